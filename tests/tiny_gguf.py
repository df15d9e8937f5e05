"""A tiny llama GGUF written the way llama.cpp's converter writes one, for the GGUF loader's tests
and the causal-LM tests (a 2-layer Llama with a byte-level BPE vocabulary and SmolLM2's
control tokens)."""

import gguf
import numpy as np

Q = gguf.GGMLQuantizationType
LAYERS, HIDDEN, INTERMEDIATE, HEADS, KV_HEADS = 2, 64, 96, 4, 2  # rows of 32-weight blocks
HEAD_DIM = HIDDEN // HEADS
EPSILON = 1e-5
# 17 control tokens like SmolLM2's: more than the 10 keras-hub's in-graph BPE can keep whole.
CONTROL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>",
                  *(f"<extra_{i}>" for i in range(14))]
WORDS = ["Hello", "Ġworld", "user", "assistant"]
CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
                 "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}")
CHATML = ("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
          "<|im_start|>assistant\nThe capital of France is Paris.<|im_end|>\n")
# One type per kind of tensor, as a llama.cpp quantization mixes them (SmolLM2: Q8_0 embedding,
# Q4_1 matrices, F32 norms); every one is exercised by the logits comparison.
TENSOR_TYPES = {"token_embd": Q.Q8_0, "output": Q.F16, "output_norm": Q.F32, "attn_norm": Q.F32,
                "ffn_norm": Q.F32, "attn_q": Q.Q4_1, "attn_k": Q.Q4_0, "attn_v": Q.Q8_0,
                "attn_output": Q.BF16, "ffn_gate": Q.Q4_1, "ffn_up": Q.Q5_1, "ffn_down": Q.Q5_0}
# GGUF name -> Hugging Face name (README "names table"), for keras-hub's own loader.
HF_NAMES = {"token_embd": "model.embed_tokens", "output": "lm_head", "output_norm": "model.norm",
            "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
            "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
            "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
            "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
TOKEN_IDS = np.array([[1, 20, 30, 40, 50, 60, 70, 80, 90, 2], [1, 5, 280, 7, 2, 0, 0, 0, 0, 0]])


def llama_cpp_permute(rows, num_heads):
  """What llama.cpp's convert_hf_to_gguf.py does to q_proj / k_proj rows (LlamaModel.permute)."""
  return (rows.reshape(num_heads, 2, rows.shape[0] // num_heads // 2, *rows.shape[1:])
          .swapaxes(1, 2).reshape(rows.shape))


def byte_level_alphabet():
  """GPT-2's byte -> printable character table: the 256 base tokens of a byte-level BPE."""
  printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
               *range(ord("®"), ord("ÿ") + 1)]
  unprintable = [byte for byte in range(256) if byte not in printable]
  return [chr(byte) for byte in printable] + [chr(256 + i) for i in range(len(unprintable))]


def tiny_vocabulary():
  """(tokens, merges): control tokens first (so <|im_end|> is 2, as in SmolLM2), bytes, WORDS."""
  tokens, merges = CONTROL_TOKENS + byte_level_alphabet(), []
  for word in WORDS:
    for end in range(2, len(word) + 1):  # "H e" -> "He", "He l" -> "Hel", ...
      merges.append(f"{word[:end - 1]} {word[end - 1]}")
      tokens.append(word[:end])
  return list(dict.fromkeys(tokens)), list(dict.fromkeys(merges))


def tiny_weights(vocabulary_size, seed=0):
  """Float32 weights in Hugging Face layout (out_features, in_features), by GGUF tensor name."""
  rng = np.random.default_rng(seed)
  shapes = {"token_embd": (vocabulary_size, HIDDEN), "output": (vocabulary_size, HIDDEN),
            "output_norm": (HIDDEN,)}
  for block in range(LAYERS):
    shapes.update({f"blk.{block}.{name}": shape for name, shape in {
        "attn_norm": (HIDDEN,), "ffn_norm": (HIDDEN,), "attn_q": (HEADS * HEAD_DIM, HIDDEN),
        "attn_k": (KV_HEADS * HEAD_DIM, HIDDEN), "attn_v": (KV_HEADS * HEAD_DIM, HIDDEN),
        "attn_output": (HIDDEN, HEADS * HEAD_DIM), "ffn_gate": (INTERMEDIATE, HIDDEN),
        "ffn_up": (INTERMEDIATE, HIDDEN), "ffn_down": (HIDDEN, INTERMEDIATE)}.items()})
  weights = {}
  for name, shape in shapes.items():
    # Norm scales near 1; q/k large enough that attention (and so RoPE) shapes the logits.
    scale = 0.3 if name.endswith(("attn_q", "attn_k")) else 0.1
    value = 1 + rng.normal(0, 0.1, shape) if len(shape) == 1 else rng.normal(0, scale, shape)
    weights[f"{name}.weight"] = value.astype(np.float32)
  return weights


def tensor_type(name):
  return TENSOR_TYPES.get(name.split(".")[-2] if name.startswith("blk.") else name.split(".")[0],
                          Q.F32)


def rotary_heads(name):
  """Heads over which llama.cpp permutes this tensor's rows, or None."""
  return {"attn_q": HEADS, "attn_k": KV_HEADS}.get(name.split(".")[-2])


def weights_as_stored(path):
  """What the loaded model must compute with: the file's tensors dequantized by gguf, q/k rows put
  back in Hugging Face order by index (independently of the loader's undo_rotary_permutation)."""
  weights = {}
  for tensor in gguf.GGUFReader(path).tensors:
    rows = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    if rotary_heads(tensor.name):
      order = llama_cpp_permute(np.arange(len(rows)), rotary_heads(tensor.name))
      rows = rows[np.argsort(order)]  # GGUF row i holds Hugging Face row order[i]
    weights[tensor.name] = rows
  return weights


def write_tiny_gguf(path, weights, architecture="llama", chat_template=CHAT_TEMPLATE):
  """A llama GGUF as llama.cpp's converter writes one: q/k permuted, then quantized."""
  tokens, merges = tiny_vocabulary()
  writer = gguf.GGUFWriter(path, architecture)
  writer.add_name("tiny llama")
  token_types = [gguf.TokenType.CONTROL] * len(CONTROL_TOKENS) + [gguf.TokenType.NORMAL] * (
      len(tokens) - len(CONTROL_TOKENS))
  for add, value in [
      (writer.add_vocab_size, len(tokens)), (writer.add_context_length, 64),
      (writer.add_embedding_length, HIDDEN), (writer.add_block_count, LAYERS),
      (writer.add_feed_forward_length, INTERMEDIATE), (writer.add_head_count, HEADS),
      (writer.add_head_count_kv, KV_HEADS), (writer.add_rope_dimension_count, HEAD_DIM),
      (writer.add_rope_freq_base, 10000.0), (writer.add_layer_norm_rms_eps, EPSILON),
      (writer.add_tokenizer_model, "gpt2"), (writer.add_tokenizer_pre, "default"),
      (writer.add_token_list, tokens), (writer.add_token_merges, merges),
      (writer.add_token_types, token_types), (writer.add_bos_token_id, 1),
      (writer.add_eos_token_id, 2), (writer.add_pad_token_id, 2), (writer.add_unk_token_id, 0),
      (writer.add_add_bos_token, False), (writer.add_chat_template, chat_template)]:
    add(value)
  for name, array in weights.items():
    if rotary_heads(name):
      array = llama_cpp_permute(array, rotary_heads(name))
    if array.dtype.kind == "i":  # integer tensors (never in a llama) keep their own GGML type
      writer.add_tensor(name, array)
    else:
      writer.add_tensor(name, gguf.quants.quantize(array, tensor_type(name)),
                        raw_dtype=tensor_type(name))
  writer.write_header_to_file()
  writer.write_kv_data_to_file()
  writer.write_tensors_to_file()
  writer.close()
  return str(path)


# --- Chats for causal-LM tests --------------------------------------------------------------------

CHATML_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LETTERS = "abcdefgh"


def conversations(count=64):
  """Multi-turn chats with a system prompt: the answer repeats the user's letter."""
  rows = []
  for i in range(count):
    letter, other = LETTERS[i % 8], LETTERS[(i * 3 + 1) % 8]
    rows.append({"messages": [
        {"role": "system", "content": "Echo."},
        {"role": "user", "content": f"{other} {i}"}, {"role": "assistant", "content": other},
        {"role": "user", "content": f"{letter} {i}"}, {"role": "assistant", "content": letter}]})
  return rows


def write_chat_llama(path):
  """The tiny llama with a ChatML template that has a generation prompt; returns `path`."""
  write_tiny_gguf(path, tiny_weights(len(tiny_vocabulary()[0])), chat_template=CHATML_TEMPLATE)
  return path
