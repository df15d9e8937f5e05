"""Hugging Face export (tfsft/models/hugging_face_export.py): tiny models written and read back.

For each supported family a tiny random backbone (2 layers, hidden 16) and a tiny tokenizer (a
byte-level BPE vocabulary built here, or a SentencePiece model trained here in well under a second)
are written with write_hugging_face_directory, then read back
  * by keras-hub's own Hugging Face loader: identical logits, identical token ids;
  * by transformers (installed without torch, so config, tokenizer and chat template only): the
    right model class and sizes, the keras-hub tokenizer's ids, the chat template rendered;
  * for Llama (the family SmolLM2 is), by a numpy forward pass written from transformers'
    modeling_llama.py that reads config.json and model.safetensors as transformers does, so the
    tensor layout and the config values transformers uses are checked, not only keras-hub's reading.
keras-hub's readers have traps of their own (module docstring of hugging_face_export.py); where
they matter the read-back passes the value explicitly, or the weights are made exact in float16.
"""

import json
import os
from typing import Callable, NamedTuple

import keras
import keras_hub
import numpy as np
import pytest
import safetensors
import safetensors.numpy
import transformers

from conftest import shared_path
from tfsft.errors import UserError
from tfsft.models.hugging_face_export import write_hugging_face_directory
from tiny_causal_lms import (CHATML, CHATML_SPECIAL_TOKENS, EPSILON, HEAD_DIM, HEADS, HIDDEN,
                             INTERMEDIATE, KV_HEADS, LAYERS, ROPE_THETA, chatml_llama3_tokenizer,
                             chatml_qwen_tokenizer, gemma_backbone, gemma_tokenizer, gpt2_backbone,
                             gpt2_tokenizer, llama3_backbone, mistral_backbone, mistral_tokenizer,
                             qwen_backbone, randomized)

# Plain text: no runs of whitespace or digits, where keras-hub's own tokenization paths disagree
# with each other and with the reference (../shared/models/smollm2-135m-instruct/README.md).
TEXTS = ["Hello world", "What is the capital of France?", "Hello, the world! café au lait"]
GEMMA_TEMPLATE = ("{% for message in messages %}{{ '<start_of_turn>' + message['role'] + '\n' + "
                  "message['content'] + '<end_of_turn>\n' }}{% endfor %}")
# No {{ eos_token }}: SentencePiece reads "</s>" in text as characters, transformers as the token.
MISTRAL_TEMPLATE = ("{% for message in messages %}{% if message['role'] == 'user' %}"
                    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}"
                    "{{ ' ' + message['content'] }}{% endif %}{% endfor %}")
CHATML_TEXT = "<|im_start|>user\nHello<|im_end|>\n<|endoftext|>"
CONVERSATION = [{"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris"}]
TOKEN_IDS = np.array([[1, 20, 30, 40, 50, 60, 70, 80], [1, 5, 200, 7, 2, 0, 0, 0]])


class Family(NamedTuple):
  name: str
  backbone: Callable  # vocabulary size -> backbone
  tokenizer: Callable  # () -> keras-hub tokenizer
  model_type: str
  architecture: str  # the transformers class config.json must name
  block_names: Callable  # layer index -> transformers' tensor names in that block
  top_names: tuple  # transformers' tensor names outside the blocks
  options: dict = {}  # write_hugging_face_directory keyword arguments
  # What keras-hub's reader must be told because it ignores config.json's value (module
  # docstring of hugging_face_export.py): GPT-2's n_inner, Llama's and Gemma's rms_norm_eps.
  read_back_kwargs: dict = {}
  # keras-hub's Mistral reader casts every tensor to float16: weights that are float16 values
  # already come back exactly.
  float16_exact: bool = False
  # Texts with the tokens the keras-hub tokenizer keeps whole (byte-level BPE only: SentencePiece
  # reads "<bos>" in text as characters, transformers as the token).
  special_texts: tuple = ()
  # keras-hub's generic Tokenizer.from_preset picks MistralTokenizer or MistralTekkenTokenizer at
  # random for a Mistral directory (preset_utils.list_subclasses iterates a set of classes, whose
  # order follows memory addresses); the Tekken one then has no vocabulary.
  keras_hub_tokenizer: type = keras_hub.models.Tokenizer


def llama_block(index):
  return [f"model.layers.{index}.{name}.weight" for name in (
      "input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
      "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]


def qwen_block(index):
  return llama_block(index) + [f"model.layers.{index}.self_attn.{name}_proj.bias"
                               for name in "qkv"]


def gpt2_block(index):
  return [f"transformer.h.{index}.{name}.{kind}" for name in (
      "ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")
          for kind in ("weight", "bias")]


LLAMA_TOP_NAMES = ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight")
TIED_TOP_NAMES = ("model.embed_tokens.weight", "model.norm.weight")
FAMILIES = [
    Family("gpt2", gpt2_backbone, gpt2_tokenizer, "gpt2", "GPT2LMHeadModel", gpt2_block,
           ("transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight",
            "transformer.ln_f.bias"),
           read_back_kwargs={"intermediate_dim": INTERMEDIATE},
           special_texts=("Hello world<|endoftext|>",)),
    Family("llama3", llama3_backbone, chatml_llama3_tokenizer, "llama", "LlamaForCausalLM",
           llama_block, LLAMA_TOP_NAMES, options={"chat_template": CHATML},
           read_back_kwargs={"layer_norm_epsilon": EPSILON}, special_texts=(CHATML_TEXT,)),
    Family("qwen", qwen_backbone, chatml_qwen_tokenizer, "qwen2", "Qwen2ForCausalLM", qwen_block,
           TIED_TOP_NAMES,
           options={"chat_template": CHATML, "special_tokens": CHATML_SPECIAL_TOKENS},
           special_texts=(CHATML_TEXT,)),
    Family("mistral", mistral_backbone, mistral_tokenizer, "mistral", "MistralForCausalLM",
           llama_block, LLAMA_TOP_NAMES,
           options={"chat_template": MISTRAL_TEMPLATE, "add_bos_token": True},
           float16_exact=True, keras_hub_tokenizer=keras_hub.models.MistralTokenizer),
    Family("gemma", gemma_backbone, gemma_tokenizer, "gemma", "GemmaForCausalLM", llama_block,
           TIED_TOP_NAMES, options={"chat_template": GEMMA_TEMPLATE, "add_bos_token": True},
           read_back_kwargs={"layer_norm_epsilon": EPSILON}),
]


class Exported(NamedTuple):
  family: Family
  backbone: object
  tokenizer: object
  directory: str


@pytest.fixture(scope="module", params=FAMILIES, ids=lambda family: family.name)
def exported(request, tmp_path_factory):
  family = request.param
  tokenizer = family.tokenizer()
  backbone = randomized(family.backbone(tokenizer.vocabulary_size()),
                        float16_exact=family.float16_exact)
  directory = str(tmp_path_factory.mktemp(family.name))
  assert write_hugging_face_directory(backbone, tokenizer, directory, **family.options) == directory
  return Exported(family, backbone, tokenizer, directory)


def logits(backbone, token_ids=TOKEN_IDS):
  hidden = backbone({"token_ids": token_ids, "padding_mask": token_ids != 0})
  return keras.ops.convert_to_numpy(backbone.token_embedding(hidden, reverse=True))


def read_json(directory, name):
  with open(os.path.join(directory, name), encoding="utf-8") as handle:
    return json.load(handle)


def keras_hub_ids(tokenizer, text):
  return np.asarray(tokenizer(text)).tolist()


def expected_head_dim(family):
  return HEAD_DIM if family.name in ("gemma", "mistral") else HIDDEN // HEADS


def expected_hugging_face_ids(exported, text):
  """transformers prepends bos exactly when the directory says add_bos_token."""
  ids = keras_hub_ids(exported.tokenizer, text)
  if exported.family.options.get("add_bos_token"):
    ids = [exported.tokenizer.start_token_id] + ids
  return ids


# --- Every family ---------------------------------------------------------------------------------


def test_keras_hub_reads_back_the_same_model(exported):
  backbone = keras_hub.models.Backbone.from_preset(exported.directory,
                                                   **exported.family.read_back_kwargs)
  assert isinstance(backbone, type(exported.backbone))
  # Same float32 weights through the same keras-hub layers: equal to rounding (measured: 0.0).
  np.testing.assert_allclose(logits(backbone), logits(exported.backbone), rtol=0, atol=1e-5)
  tokenizer = exported.family.keras_hub_tokenizer.from_preset(exported.directory)
  assert isinstance(tokenizer, type(exported.tokenizer))
  for text in TEXTS + list(exported.family.special_texts):
    assert keras_hub_ids(tokenizer, text) == keras_hub_ids(exported.tokenizer, text), text


def test_safetensors_has_transformers_names_and_shapes(exported):
  family, backbone = exported.family, exported.backbone
  path = os.path.join(exported.directory, "model.safetensors")
  with safetensors.safe_open(path, framework="np") as handle:
    assert handle.metadata() == {"format": "pt"}  # transformers' loader checks it
    names = set(handle.keys())
  expected = set(family.top_names)
  for index in range(LAYERS):
    expected.update(family.block_names(index))
  # keras-hub's reader finds tensors by suffix, so a wrong prefix would pass the test above.
  assert names == expected
  weights = safetensors.numpy.load_file(path)
  vocabulary = backbone.vocabulary_size
  if family.name == "gpt2":  # Conv1D layout (in, out), q | k | v fused
    assert weights["transformer.h.0.attn.c_attn.weight"].shape == (HIDDEN, 3 * HIDDEN)
    assert weights["transformer.h.0.mlp.c_fc.weight"].shape == (HIDDEN, INTERMEDIATE)
    assert weights["transformer.wte.weight"].shape == (vocabulary, HIDDEN)
  else:  # torch Linear layout (out, in)
    head_dim = expected_head_dim(family)
    layer = "model.layers.0."
    assert weights[layer + "self_attn.q_proj.weight"].shape == (HEADS * head_dim, HIDDEN)
    assert weights[layer + "self_attn.k_proj.weight"].shape == (KV_HEADS * head_dim, HIDDEN)
    assert weights[layer + "self_attn.o_proj.weight"].shape == (HIDDEN, HEADS * head_dim)
    assert weights[layer + "mlp.gate_proj.weight"].shape == (INTERMEDIATE, HIDDEN)
    assert weights[layer + "mlp.down_proj.weight"].shape == (HIDDEN, INTERMEDIATE)
    assert weights["model.embed_tokens.weight"].shape == (vocabulary, HIDDEN)


def test_transformers_reads_the_config(exported):
  family, backbone = exported.family, exported.backbone
  config = transformers.AutoConfig.from_pretrained(exported.directory)
  assert (config.model_type, config.architectures) == (family.model_type, [family.architecture])
  assert config.vocab_size == backbone.vocabulary_size
  assert config.num_hidden_layers == LAYERS
  assert config.tie_word_embeddings == backbone.token_embedding.tie_weights
  assert str(config.dtype).removeprefix("torch.") == "float32"
  if family.name == "gpt2":
    assert (config.n_embd, config.n_head, config.n_inner) == (HIDDEN, HEADS, INTERMEDIATE)
    assert config.layer_norm_epsilon == 1e-5  # GPT2Backbone's fixed value
  else:
    assert (config.hidden_size, config.num_attention_heads, config.num_key_value_heads) == (
        HIDDEN, HEADS, KV_HEADS)
    assert config.intermediate_size == INTERMEDIATE
    if family.name != "qwen":  # Qwen2Config derives it and leaves the attribute None
      assert config.head_dim == expected_head_dim(family)
    assert config.rms_norm_eps == pytest.approx(EPSILON)
    if family.name != "gemma":  # GemmaBackbone hard-codes 10,000
      assert config.rope_parameters["rope_theta"] == pytest.approx(ROPE_THETA)
  tokenizer = exported.tokenizer
  expected_ids = {"bos_token_id": tokenizer.start_token_id,
                  "eos_token_id": tokenizer.end_token_id}
  special_tokens = family.options.get("special_tokens", {})
  for name, token in special_tokens.items():
    expected_ids[f"{name}_id"] = tokenizer.token_to_id(token)
  generation = read_json(exported.directory, "generation_config.json")
  for name, index in expected_ids.items():
    assert getattr(config, name) == index, name
    assert generation[name] == index, name


def test_transformers_tokenizer_gives_the_keras_hub_ids(exported):
  tokenizer = transformers.AutoTokenizer.from_pretrained(exported.directory)
  for text in TEXTS:
    assert tokenizer(text)["input_ids"] == expected_hugging_face_ids(exported, text), text
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
  for text in exported.family.special_texts:
    assert tokenizer(text)["input_ids"] == expected_hugging_face_ids(exported, text), text
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
  expected_eos = exported.family.options.get("special_tokens", {}).get(
      "eos_token", exported.tokenizer.end_token)
  assert tokenizer.eos_token == expected_eos


def test_chat_template_is_written_and_renders_in_transformers(exported):
  template = exported.family.options.get("chat_template")
  tokenizer_config = read_json(exported.directory, "tokenizer_config.json")
  assert tokenizer_config.get("chat_template") == template
  if template is None:
    return
  tokenizer = transformers.AutoTokenizer.from_pretrained(exported.directory)
  rendered = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
  assert "What is the capital of France?" in rendered and "Paris" in rendered
  if template == CHATML:
    assert rendered == ("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                        "<|im_start|>assistant\nParis<|im_end|>\n")
  # The template's own special tokens stay whole on both sides (ChatML: <|im_start|> is id 1).
  ids = tokenizer.apply_chat_template(CONVERSATION, tokenize=True, return_dict=True)["input_ids"]
  assert ids == keras_hub_ids(exported.tokenizer, rendered)


# --- Llama as transformers computes it ------------------------------------------------------------


def llama_logits_as_transformers_computes_them(directory, token_ids):
  """LlamaForCausalLM's forward pass (modeling_llama.py) in float64 numpy, for one unpadded row,
  from config.json and model.safetensors read the way transformers reads them."""
  config = transformers.AutoConfig.from_pretrained(directory)
  weights = {name: value.astype(np.float64) for name, value in
             safetensors.numpy.load_file(os.path.join(directory, "model.safetensors")).items()}
  heads, kv_heads, head_dim = (config.num_attention_heads, config.num_key_value_heads,
                               config.head_dim)
  length = len(token_ids)

  def rms_norm(x, scale):
    return x / np.sqrt(np.mean(x ** 2, -1, keepdims=True) + config.rms_norm_eps) * scale

  def linear(x, name):
    return x @ weights[name].T

  # Rotary embedding, "rotate half" layout (LlamaRotaryEmbedding, apply_rotary_pos_emb).
  inverse_frequency = config.rope_parameters["rope_theta"] ** (
      -np.arange(0, head_dim, 2) / head_dim)
  angles = np.arange(length)[:, None] * inverse_frequency
  cos, sin = np.cos(np.concatenate([angles] * 2, -1)), np.sin(np.concatenate([angles] * 2, -1))

  def rotate(x):  # (heads, length, head_dim)
    first, second = np.split(x, 2, axis=-1)
    return x * cos + np.concatenate([-second, first], -1) * sin

  def split_heads(x, count):
    return x.reshape(length, count, head_dim).transpose(1, 0, 2)

  causal = np.triu(np.full((length, length), -np.inf), 1)
  x = weights["model.embed_tokens.weight"][token_ids]
  for index in range(config.num_hidden_layers):
    layer = f"model.layers.{index}."
    h = rms_norm(x, weights[layer + "input_layernorm.weight"])
    q = rotate(split_heads(linear(h, layer + "self_attn.q_proj.weight"), heads))
    k = rotate(split_heads(linear(h, layer + "self_attn.k_proj.weight"), kv_heads))
    v = split_heads(linear(h, layer + "self_attn.v_proj.weight"), kv_heads)
    k, v = (np.repeat(t, heads // kv_heads, axis=0) for t in (k, v))  # repeat_kv
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_dim) + causal
    probabilities = np.exp(scores - scores.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    attended = (probabilities @ v).transpose(1, 0, 2).reshape(length, heads * head_dim)
    x = x + linear(attended, layer + "self_attn.o_proj.weight")
    h = rms_norm(x, weights[layer + "post_attention_layernorm.weight"])
    gate = linear(h, layer + "mlp.gate_proj.weight")
    x = x + linear(gate / (1 + np.exp(-gate)) * linear(h, layer + "mlp.up_proj.weight"),
                   layer + "mlp.down_proj.weight")
  x = rms_norm(x, weights["model.norm.weight"])
  head = "model.embed_tokens.weight" if config.tie_word_embeddings else "lm_head.weight"
  return linear(x, head)


@pytest.mark.parametrize("tie_word_embeddings", [False, True])
def test_llama_logits_are_what_transformers_computes(tmp_path, tie_word_embeddings):
  tokenizer = chatml_llama3_tokenizer()
  backbone = randomized(llama3_backbone(tokenizer.vocabulary_size(), tie_word_embeddings))
  write_hugging_face_directory(backbone, tokenizer, str(tmp_path))
  token_ids = TOKEN_IDS[0]
  expected = logits(backbone, token_ids[None])[0]
  np.testing.assert_allclose(llama_logits_as_transformers_computes_them(str(tmp_path), token_ids),
                             expected, rtol=0, atol=1e-4)  # float32 against float64


def test_lora_adapters_are_merged_into_the_written_weights(tmp_path):
  tokenizer = chatml_llama3_tokenizer()
  backbone = randomized(llama3_backbone(tokenizer.vocabulary_size()))
  before = logits(backbone)
  backbone.enable_lora(rank=2)  # query and value projections
  rng = np.random.default_rng(1)
  for variable in backbone.trainable_weights:  # lora_kernel_b starts at zero: a trained adapter
    variable.assign(rng.normal(0, 0.3, variable.shape).astype("float32"))
  adapted = logits(backbone)
  assert np.abs(adapted - before).max() > 0.1
  write_hugging_face_directory(backbone, tokenizer, str(tmp_path))
  read_back = keras_hub.models.Backbone.from_preset(str(tmp_path), layer_norm_epsilon=EPSILON)
  np.testing.assert_allclose(logits(read_back), adapted, rtol=0, atol=1e-5)


def test_bfloat16_weights_are_written_as_bfloat16(tmp_path):
  tokenizer = chatml_llama3_tokenizer()
  backbone = llama3_backbone(tokenizer.vocabulary_size())
  bfloat16 = keras_hub.models.Llama3Backbone.from_config(
      {**backbone.get_config(), "dtype": "bfloat16"})
  randomized(bfloat16)
  write_hugging_face_directory(bfloat16, tokenizer, str(tmp_path))
  with safetensors.safe_open(str(tmp_path / "model.safetensors"), framework="np") as handle:
    assert handle.get_tensor("model.embed_tokens.weight").dtype == "bfloat16"
  assert read_json(str(tmp_path), "config.json")["dtype"] == "bfloat16"
  read_back = keras_hub.models.Backbone.from_preset(str(tmp_path), dtype="bfloat16",
                                                    layer_norm_epsilon=EPSILON)
  np.testing.assert_array_equal(logits(read_back).astype("float32"),
                                logits(bfloat16).astype("float32"))


# --- Tokenizer details ----------------------------------------------------------------------------


def test_add_bos_token_is_followed_by_transformers(tmp_path):
  tokenizer = chatml_llama3_tokenizer()
  backbone = llama3_backbone(tokenizer.vocabulary_size())
  for add_bos_token in (False, True):
    directory = str(tmp_path / str(add_bos_token))
    write_hugging_face_directory(backbone, tokenizer, directory, add_bos_token=add_bos_token)
    hugging_face = transformers.AutoTokenizer.from_pretrained(directory)
    expected = keras_hub_ids(tokenizer, "Hello world")
    assert hugging_face("Hello world")["input_ids"] == [1] * add_bos_token + expected
    # Tools that read tokenizer.json alone (vLLM, llama.cpp's converter) see it too.
    post_processor = read_json(directory, "tokenizer.json")["post_processor"]
    assert (post_processor is not None) == add_bos_token


def test_special_tokens_override_the_tokenizer_own(tmp_path):
  tokenizer = gpt2_tokenizer()  # keras-hub's GPT-2 knows only <|endoftext|>
  write_hugging_face_directory(
      gpt2_backbone(tokenizer.vocabulary_size()), tokenizer, str(tmp_path),
      special_tokens={"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                      "pad_token": "<|endoftext|>"})
  hugging_face = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
  assert (hugging_face.bos_token_id, hugging_face.eos_token_id, hugging_face.pad_token_id) == (
      1, 2, 0)
  # Named special tokens are kept whole by transformers even though GPT-2's vocab.json cannot
  # say so (tokenizer_config.json's added_tokens_decoder does).
  assert hugging_face("<|im_start|>user\nHello<|im_end|>")["input_ids"][0] == 1
  assert read_json(str(tmp_path), "generation_config.json") == {
      "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}


def test_rewriting_a_directory_leaves_no_stale_tokenizer_files(tmp_path):
  llama_tokenizer, gpt2 = chatml_llama3_tokenizer(), gpt2_tokenizer()
  write_hugging_face_directory(llama3_backbone(llama_tokenizer.vocabulary_size()),
                               llama_tokenizer, str(tmp_path))
  write_hugging_face_directory(gpt2_backbone(gpt2.vocabulary_size()), gpt2, str(tmp_path))
  # A leftover tokenizer.json would take precedence over the new vocab.json in transformers.
  assert not os.path.exists(tmp_path / "tokenizer.json")
  assert transformers.AutoConfig.from_pretrained(str(tmp_path)).model_type == "gpt2"


def test_real_gpt2_tokenizer_gives_the_same_ids_in_transformers(tmp_path):
  folder = shared_path("TFSFT_TEST_MODELS", "gpt2-tokenizer")
  with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as handle:
    vocabulary = json.load(handle)
  with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as handle:
    merges = [line.rstrip("\n") for line in handle]
  tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
  write_hugging_face_directory(gpt2_backbone(tokenizer.vocabulary_size()), tokenizer,
                               str(tmp_path))
  hugging_face = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
  assert hugging_face("Hello world")["input_ids"] == [15496, 995]  # the README's GPT-2 ids
  for text in TEXTS + ["Hello world, this is GPT-2."]:
    assert hugging_face(text)["input_ids"] == keras_hub_ids(tokenizer, text), text


# --- What cannot be exported ----------------------------------------------------------------------


def test_an_unsupported_architecture_is_a_user_error(tmp_path):
  tokenizer = gpt2_tokenizer()
  backbone = keras_hub.models.OPTBackbone(  # a keras-hub causal LM with no transformers writer
      vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_heads=2, hidden_dim=8,
      intermediate_dim=16, max_sequence_length=16)
  with pytest.raises(UserError, match="OPTBackbone cannot be exported.*supported: GPT2Backbone"):
    write_hugging_face_directory(backbone, tokenizer, str(tmp_path))
  assert not os.listdir(tmp_path)  # refused before anything is written


def _quantized(backbone):
  # One layer is enough, and backbone.quantize("int8") takes 10 s of tracing.
  backbone.get_layer("transformer_layer_0")._feedforward_gate_dense.quantize("int8")
  return backbone


def _gemma2_backbone():
  return keras_hub.models.GemmaBackbone(
      vocabulary_size=gemma_tokenizer().vocabulary_size(), num_layers=1, num_query_heads=2,
      num_key_value_heads=1, hidden_dim=8, intermediate_dim=16, head_dim=4,
      final_logit_soft_cap=30.0)


@pytest.mark.parametrize("make, options, message", [
    (lambda: (llama3_backbone(300), gpt2_tokenizer()), {},
     "GPT2Tokenizer cannot be written for a llama model"),
    (lambda: (_gemma2_backbone(), gemma_tokenizer()), {},
     "final_logit_soft_cap=30.0 .*Gemma 2"),
    (lambda: (llama3_backbone(100), chatml_llama3_tokenizer()), {},
     r"the tokenizer has \d+ tokens but the backbone's embedding only 100"),
    (lambda: (llama3_backbone(300), chatml_llama3_tokenizer()),
     {"special_tokens": {"eos_token": "<|eot_id|>"}},
     "special token '<|eot_id|>' is not in the tokenizer's vocabulary"),
    (lambda: (gemma_backbone(400), gemma_tokenizer()),
     {"special_tokens": {"eos_token": "<end_of_text>"}},
     "special token '<end_of_text>' is not in the tokenizer's vocabulary"),
    (lambda: (llama3_backbone(300), chatml_llama3_tokenizer()),
     {"special_tokens": {"sep_token": "<|endoftext|>"}}, r"special_tokens has \['sep_token'\]"),
    (lambda: (qwen_backbone(300), chatml_qwen_tokenizer()), {"add_bos_token": True},
     "add_bos_token=True but QwenTokenizer has no start token"),
    (lambda: (llama3_backbone(300), chatml_llama3_tokenizer()),
     {"chat_template": "{% for message in messages %}"}, "chat_template is not valid Jinja"),
    (lambda: (_quantized(llama3_backbone(300)), chatml_llama3_tokenizer()), {},
     "the backbone is quantized .* is int8"),
], ids=["tokenizer", "gemma2", "vocabulary", "special", "sentencepiece-special", "name", "bos",
        "jinja", "quantized"])
def test_what_cannot_be_written_is_a_one_line_user_error(tmp_path, make, options, message):
  backbone, tokenizer = make()
  with pytest.raises(UserError, match=message) as error:
    write_hugging_face_directory(backbone, tokenizer, str(tmp_path), **options)
  assert "\n" not in str(error.value)
  assert not os.listdir(tmp_path)  # refused before anything is written
