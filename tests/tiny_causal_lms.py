"""Tiny random keras-hub causal LMs and tokenizers for tests: one builder per architecture that
tfsft reads and writes (GPT-2, Llama 3, Qwen, Mistral, Gemma), 2 layers and hidden 16, with a
byte-level BPE vocabulary built here or a SentencePiece model trained here in well under a second.
tests/models/test_hugging_face_export.py and tests/models/test_causal_lm_architectures.py use them.
"""

import io

import keras_hub
import numpy as np
import sentencepiece
from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

LAYERS, HIDDEN, HEADS, KV_HEADS = 2, 16, 4, 2
# Gemma and Mistral take head_dim as a setting: heads * head_dim = 32 != hidden, the case that
# keras-hub's Gemma writer gets wrong and its Mistral config leaves out. Llama, Qwen: hidden / heads.
HEAD_DIM = 8
# Not 4 * HIDDEN on purpose: keras-hub's GPT-2 reader ignores n_inner (module docstring).
INTERMEDIATE = 32
# Far from the defaults, so that a wrong rms_norm_eps or rope_theta in config.json changes logits.
EPSILON, ROPE_THETA = 1e-2, 500.0
CHATML_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2 as in SmolLM2
WORDS = ["Hello", "Ġworld", "Ġthe", "Ġcapital", "user", "assistant", "France"]
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
CHATML_SPECIAL_TOKENS = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                         "pad_token": "<|endoftext|>"}


# --- Tiny tokenizers ------------------------------------------------------------------------------


def byte_level_vocabulary():
  """(vocabulary, merges): CHATML_TOKENS, GPT-2's 256 byte characters, then WORDS merged up."""
  _, alphabet = bytes_to_unicode()
  tokens, merges = CHATML_TOKENS + list(alphabet), []
  for word in WORDS:
    for end in range(2, len(word) + 1):  # "H e" -> "He", "He l" -> "Hel", ...
      merges.append(f"{word[:end - 1]} {word[end - 1]}")
      tokens.append(word[:end])
  tokens = list(dict.fromkeys(tokens))
  return {token: index for index, token in enumerate(tokens)}, list(dict.fromkeys(merges))


SENTENCEPIECE_TEXT = ["The capital of France is Paris.", "Hello world, what is the capital?",
                      "The quick brown fox jumps over the lazy dog."] * 10

# ChatML's role names, and room for them to become pieces of their own: short templated text.
CHATML_ROLE_TEXT = ["<|im_start|>system\nuser<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                    "<|im_start|>assistant\nParis<|im_end|>\n"] * 10
CHATML_VOCABULARY_SIZE = 400


def sentencepiece_proto(extra_text=(), vocab_size=340, **special_pieces) -> bytes:
  """A tiny BPE SentencePiece model with byte fallback, as Gemma's and Mistral's are."""
  model = io.BytesIO()
  sentencepiece.SentencePieceTrainer.train(
      sentence_iterator=iter(SENTENCEPIECE_TEXT + list(extra_text)), model_writer=model,
      vocab_size=vocab_size, hard_vocab_limit=False, model_type="bpe", byte_fallback=True,
      character_coverage=1.0, normalization_rule_name="identity", minloglevel=2,
      **special_pieces)
  return model.getvalue()


def gpt2_tokenizer():
  return keras_hub.models.GPT2Tokenizer(*byte_level_vocabulary())


def chatml_llama3_tokenizer():
  # Only the three ChatML tokens unsplittable (keras-hub mishandles more than 10 in graphs).
  return keras_hub.models.Llama3Tokenizer(
      *byte_level_vocabulary(), bos_token="<|im_start|>", eos_token="<|im_end|>",
      misc_special_tokens={"<|endoftext|>"})


def chatml_qwen_tokenizer():
  return keras_hub.models.QwenTokenizer(*byte_level_vocabulary(), unsplittable_tokens=CHATML_TOKENS)


GEMMA_TURN_TOKENS = ("<start_of_turn>", "<end_of_turn>")
CHATML_TURN_TOKENS = ("<|im_start|>", "<|im_end|>")


def gemma_tokenizer(turn_tokens=GEMMA_TURN_TOKENS, extra_text=(), vocab_size=340):
  """`turn_tokens` are SentencePiece user-defined symbols: always one piece, in text too."""
  return keras_hub.models.GemmaTokenizer(proto=sentencepiece_proto(
      extra_text, vocab_size, pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>",
      bos_piece="<bos>", unk_piece="<unk>", add_dummy_prefix=False,
      user_defined_symbols=list(turn_tokens)))


def mistral_tokenizer(turn_tokens=(), extra_text=(), vocab_size=340):
  return keras_hub.models.MistralTokenizer(proto=sentencepiece_proto(
      extra_text, vocab_size, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True,
      **({"user_defined_symbols": list(turn_tokens)} if turn_tokens else {})))


def chatml_gemma_tokenizer():
  return gemma_tokenizer(CHATML_TURN_TOKENS, CHATML_ROLE_TEXT, CHATML_VOCABULARY_SIZE)


def chatml_mistral_tokenizer():
  return mistral_tokenizer(CHATML_TURN_TOKENS, CHATML_ROLE_TEXT, CHATML_VOCABULARY_SIZE)


# --- Tiny backbones -------------------------------------------------------------------------------


def randomized(backbone, seed=0, float16_exact=False):
  """Weights large enough that every one shapes the logits (keras-hub initializes embeddings at
  stddev 0.01); norm scales near 1. `float16_exact` rounds them to float16 values, which
  keras-hub's Mistral reader (it casts every tensor to float16) then reads back exactly."""
  rng = np.random.default_rng(seed)
  for variable in backbone.weights:
    is_scale = any(name in variable.path for name in ("scale", "gamma"))
    value = (1 if is_scale else 0) + rng.normal(0, 0.1 if is_scale else 0.3, variable.shape)
    if float16_exact:
      value = value.astype(np.float16)
    variable.assign(value.astype(variable.dtype))
  return backbone


def gpt2_backbone(vocabulary_size):
  return keras_hub.models.GPT2Backbone(
      vocabulary_size=vocabulary_size, num_layers=LAYERS, num_heads=HEADS, hidden_dim=HIDDEN,
      intermediate_dim=INTERMEDIATE, max_sequence_length=64)


def llama3_backbone(vocabulary_size, tie_word_embeddings=False):
  return keras_hub.models.Llama3Backbone(
      vocabulary_size=vocabulary_size, num_layers=LAYERS, num_query_heads=HEADS,
      num_key_value_heads=KV_HEADS, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
      rope_max_wavelength=ROPE_THETA, layer_norm_epsilon=EPSILON,
      tie_word_embeddings=tie_word_embeddings)


def qwen_backbone(vocabulary_size):
  return keras_hub.models.QwenBackbone(
      vocabulary_size=vocabulary_size, num_layers=LAYERS, num_query_heads=HEADS,
      num_key_value_heads=KV_HEADS, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
      rope_max_wavelength=ROPE_THETA, layer_norm_epsilon=EPSILON, tie_word_embeddings=True)


def mistral_backbone(vocabulary_size):
  return keras_hub.models.MistralBackbone(
      vocabulary_size=vocabulary_size, num_layers=LAYERS, num_query_heads=HEADS,
      num_key_value_heads=KV_HEADS, hidden_dim=HIDDEN, intermediate_dim=INTERMEDIATE,
      rope_max_wavelength=ROPE_THETA, layer_norm_epsilon=EPSILON, head_dim=HEAD_DIM)


def gemma_backbone(vocabulary_size):
  # 2 key-value heads and heads * head_dim != hidden: where keras-hub's own Gemma map goes wrong.
  return keras_hub.models.GemmaBackbone(
      vocabulary_size=vocabulary_size, num_layers=LAYERS, num_query_heads=HEADS,
      num_key_value_heads=KV_HEADS, hidden_dim=HIDDEN, intermediate_dim=2 * INTERMEDIATE,
      head_dim=HEAD_DIM, layer_norm_epsilon=EPSILON)
