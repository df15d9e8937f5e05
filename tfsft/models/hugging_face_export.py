"""keras-hub decoder-only causal LMs written out as Hugging Face (transformers) model directories.

`write_hugging_face_directory(backbone, tokenizer, directory)` writes what transformers'
`AutoConfig` / `AutoModelForCausalLM` / `AutoTokenizer` and keras-hub's own Hugging Face loader read
(the standard layout that vLLM, TGI and llama.cpp's convert_hf_to_gguf.py take too; not run here):

  config.json             `architectures`, `model_type`, every size, token ids, `dtype`
  model.safetensors       transformers' tensor names, header metadata {"format": "pt"}
  tokenizer files         GPT-2: vocab.json + merges.txt; other byte-level BPE (Llama 3, SmolLM2,
                          Qwen): tokenizer.json; SentencePiece (Gemma, Mistral): tokenizer.model
  tokenizer_config.json   special tokens, `add_bos_token`, `chat_template`
  generation_config.json  bos / eos / pad ids

The weights are the backbone's variables as they are now, in their own dtype, so a fine-tuned model
is written as trained; LoRA adapters come out merged, because Keras' `Dense.kernel` and
`EinsumDense.kernel` return the base kernel plus the adapter product while LoRA is enabled.

keras-hub 0.32 has an exporter (`CausalLM.export_to_transformers`, keras_hub/src/utils/transformers/
export/). Its weight maps are reused where writing and reading back through keras-hub's own Hugging
Face loader gives identical logits (GPT-2, Llama 3, Mistral, Qwen). Where it is wrong this module
does its own (tests/models/test_hugging_face_export.py checks the result of each):
  * config.json: GPT-2's, Qwen's and Gemma's lack `architectures`, which transformers needs to pick
    the model class; GPT-2's hard-codes bos/eos 50256 (out of range for any other vocabulary);
    Qwen's lacks `use_sliding_window` / `sliding_window`, so keras-hub cannot read its own export
    back (KeyError 'use_sliding_window'); Gemma's lacks `hidden_act`, `rms_norm_eps` and
    `rope_theta`; Mistral's ignores the backbone's own `head_dim`.
  * Gemma weights: k_proj / v_proj keep only the first key-value head (`weights[0][0]`), and q_proj
    comes out (hidden, heads * head_dim), i.e. transposed, which keras-hub reads back without
    complaint but wrongly: only a Gemma-2B-like shape (one key-value head, heads * head_dim ==
    hidden) survives the round trip.
  * Tokenizers: Qwen's is written as vocab.json + merges.txt, but keras-hub's Qwen reader wants
    tokenizer.json; tokenizer_config.json has no chat template, and add_bos_token and the special
    tokens are fixed per family (Llama 3 always add_bos_token=True; GPT-2, Qwen and Gemma fixed
    token strings) rather than the tokenizer's.
  * Tokenizer behaviour: keras-hub's eager BPE hands its Llama 3 split regex to `tokenizers` as a
    plain `str`, which `tokenizers` matches literally, so eager keras-hub never pre-splits text
    (BPE runs over "HelloĠworld,Ġit's..." whole). tokenizer.json here gets the regex as a regex
    (`Split` + `ByteLevel`, like Llama 3's own tokenizer.json): transformers then agrees with
    keras-hub on ordinary text; runs of whitespace or digits may differ (as keras-hub's eager and
    in-graph paths already differ there, ../shared/models/smollm2-135m-instruct/README.md).
    transformers 5 rebuilds the pre-tokenizer of a named class (Qwen2Tokenizer, GPT2Tokenizer) in
    its __init__ and reads tokenizer.json as it is only for the generic class, which is why
    tokenizer_class is "PreTrainedTokenizerFast"; for model_type "qwen2" it uses Qwen2Tokenizer
    whatever the file says.
keras-hub's readers have traps of their own, on the reading side: GPT-2's builds intermediate_dim =
4 * n_embd whatever n_inner says ("cannot reshape array of size 512 into shape (16,64)" for a
16-wide GPT-2 with intermediate 32); Llama's and Gemma's ignore rms_norm_eps; Mistral's rounds every
weight to float16; and `keras_hub.models.Tokenizer.from_preset` on a Mistral directory returns
MistralTokenizer or an empty MistralTekkenTokenizer depending on the process (it picks from a set of
classes). Pass `intermediate_dim=` / `layer_norm_epsilon=` to `Backbone.from_preset` and use
`MistralTokenizer.from_preset`.
"""

import dataclasses
import json
import os
from typing import Callable, Dict, List, Mapping, Optional

import jinja2.sandbox
import keras
import keras_hub
import numpy as np
import safetensors.numpy
import sentencepiece
from keras_hub.src.tokenizers.byte_pair_tokenizer import SPLIT_PATTERN_TOKENIZERS
from keras_hub.src.utils.transformers.export import gpt2 as keras_hub_gpt2
from keras_hub.src.utils.transformers.export import llama3 as keras_hub_llama3
from keras_hub.src.utils.transformers.export import mistral as keras_hub_mistral
from keras_hub.src.utils.transformers.export import qwen as keras_hub_qwen

from tfsft.errors import UserError

SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "pad_token", "unk_token")
# Every file this module may write: cleared first, so that an earlier export into the same
# directory (say a tokenizer.json next to a new vocab.json) cannot shadow the new one.
_WRITTEN_FILES = ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                  "vocab.json", "merges.txt", "tokenizer.model", "tokenizer_config.json",
                  "special_tokens_map.json")
_SAFETENSORS_METADATA = {"format": "pt"}  # transformers' loader checks it


def write_hugging_face_directory(backbone, tokenizer, directory: str, *,
                                 chat_template: Optional[str] = None,
                                 special_tokens: Optional[Mapping[str, str]] = None,
                                 add_bos_token: bool = False) -> str:
  """Writes `backbone` and `tokenizer` as a Hugging Face model directory; returns `directory`.

  `special_tokens` overrides the tokenizer's own bos/eos/pad/unk tokens (keys SPECIAL_TOKEN_NAMES,
  values tokens of the vocabulary), e.g. {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
  for a ChatML model; eos is what generation_config.json makes generation stop at.
  `add_bos_token` is whether transformers' tokenizer prepends bos to text (False for chat models
  whose template writes its own start tokens). `chat_template` is Jinja text (transformers'
  `apply_chat_template`). A backbone or tokenizer that cannot be written is a `UserError`.
  """
  architecture = _architecture(backbone)
  tokenizer_format = _tokenizer_format(architecture, tokenizer)
  tokens = _special_tokens(tokenizer, special_tokens)
  _check_consistent(backbone, tokenizer, tokens, add_bos_token, chat_template)
  # config.json and generation_config.json name the ids; unk is only the tokenizer's business.
  token_ids = {f"{name}_id": _token_id(tokenizer, token) for name, token in tokens.items()
               if name != "unk_token"}
  # Built before anything is written: the family's own checks (Gemma 2 settings, RoPE scaling)
  # raise here, leaving the directory as it was.
  config = {**architecture.config(backbone), "architectures": [architecture.class_name],
            "model_type": architecture.model_type, "dtype": _variable_dtype(backbone), **token_ids}

  _remove_earlier_export(directory)
  _write_json(directory, "config.json", config)
  _write_json(directory, "generation_config.json", token_ids)
  weights = {name: np.ascontiguousarray(_numpy(value))
             for name, value in architecture.weights(backbone).items()}
  safetensors.numpy.save_file(weights, os.path.join(directory, "model.safetensors"),
                              metadata=_SAFETENSORS_METADATA)
  tokenizer_format.write(tokenizer, directory, tokens, add_bos_token)
  max_length = config.get("max_position_embeddings", config.get("n_positions"))
  _write_json(directory, "tokenizer_config.json", _tokenizer_config(
      tokenizer, tokenizer_format.class_name, tokens, add_bos_token, chat_template, max_length))
  _write_json(directory, "special_tokens_map.json", tokens)  # older readers look here
  return directory


def _check_consistent(backbone, tokenizer, tokens, add_bos_token, chat_template):
  if add_bos_token and "bos_token" not in tokens:
    raise UserError(f"add_bos_token=True but {type(tokenizer).__name__} has no start token: pass "
                    "special_tokens={'bos_token': ...}")
  # The embedding may be padded past the tokenizer (Qwen's is), never the other way round.
  if tokenizer.vocabulary_size() > backbone.vocabulary_size:
    raise UserError(f"the tokenizer has {tokenizer.vocabulary_size()} tokens but the backbone's "
                    f"embedding only {backbone.vocabulary_size}: they are not one model")
  if chat_template is not None:
    _check_jinja(chat_template)
  # backbone.quantize() leaves the backbone's own dtype policy alone and gives its layers int8 /
  # float8 kernels with scales, which have no transformers layout: found by their variables.
  for variable in backbone.weights:
    dtype = keras.backend.standardize_dtype(variable.dtype)
    if not dtype.startswith(("float", "bfloat")):
      raise UserError(f"the backbone is quantized ({variable.path} is {dtype}); write the model "
                      "out before quantizing it")


def _remove_earlier_export(directory):
  os.makedirs(directory, exist_ok=True)
  for name in _WRITTEN_FILES:
    path = os.path.join(directory, name)
    if os.path.exists(path):
      os.remove(path)


# --- Architectures --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Architecture:
  """How one keras-hub backbone class becomes one transformers model class."""
  model_type: str  # config.json `model_type`: what transformers and keras-hub dispatch on
  class_name: str  # config.json `architectures[0]`: the transformers causal-LM class
  config: Callable[..., dict]  # backbone -> sizes (token ids and dtype are added by the caller)
  weights: Callable[..., dict]  # backbone -> {transformers tensor name: array or Keras variable}
  tokenizer_formats: tuple  # the _TokenizerFormat names this model family is written with


def _gpt2_config(backbone) -> dict:
  config = keras_hub_gpt2.get_gpt2_config(backbone)
  del config["bos_token_id"], config["eos_token_id"]  # hard-coded 50256: the caller sets them
  return {**config, "tie_word_embeddings": True}  # GPT2Backbone's embedding is always tied


def _gpt2_weights(backbone) -> dict:
  # Checked: keras-hub writes the fused c_attn in Conv1D layout (in, 3 * hidden) = [q | k | v] as
  # transformers' GPT-2 does; the lm_head is the tied embedding, so it is left out as
  # transformers' own save_pretrained does.
  return keras_hub_gpt2.get_gpt2_weights_map(backbone, include_lm_head=False)


def _check_plain_rope(backbone, scaling_attribute):
  """keras-hub's linear RoPE scaling has no reader on keras-hub's side: refused, not guessed."""
  factor = getattr(backbone, scaling_attribute, 1.0)
  if factor != 1.0:
    raise UserError(f"{type(backbone).__name__} has {scaling_attribute}={factor}; only unscaled "
                    "RoPE (1.0) can be exported to Hugging Face")


def _llama_config(backbone) -> dict:
  _check_plain_rope(backbone, "rope_position_scaling_factor")
  config = keras_hub_llama3.get_llama3_config(backbone)
  del config["torch_dtype"]  # transformers 5 calls it `dtype`; the caller sets it
  return config


def _llama_weights(backbone) -> dict:
  return keras_hub_llama3.get_llama3_weights_map(
      backbone, include_lm_head=not backbone.tie_word_embeddings)


def _mistral_config(backbone) -> dict:
  _check_plain_rope(backbone, "rope_scaling_factor")
  config = keras_hub_mistral.get_mistral_config(backbone)
  del config["torch_dtype"]
  # keras-hub's exporter always writes hidden / heads; Mistral NeMo-like models set head_dim.
  config["head_dim"] = backbone.head_dim or backbone.hidden_dim // backbone.num_query_heads
  return config


def _mistral_weights(backbone) -> dict:
  return keras_hub_mistral.get_mistral_weights_map(backbone, include_lm_head=True)


def _qwen_config(backbone) -> dict:
  _check_plain_rope(backbone, "rope_scaling_factor")
  if backbone.use_sliding_window_attention:
    # keras-hub slides the window in every layer, transformers only in layers >= max_window_layers
    # (configuration_qwen2.py); whether the window edges agree is unchecked, and Qwen2 checkpoints
    # ship without it.
    raise UserError("QwenBackbone with use_sliding_window_attention=True cannot be exported; "
                    "build it with use_sliding_window_attention=False")
  return {**keras_hub_qwen.get_qwen_config(backbone), "use_sliding_window": False,
          "sliding_window": backbone.sliding_window_size,
          "max_window_layers": backbone.num_layers, "max_position_embeddings": 32768}


def _qwen_weights(backbone) -> dict:
  return keras_hub_qwen.get_qwen_weights_map(
      backbone, include_lm_head=not backbone.tie_word_embeddings)


def _gemma_config(backbone) -> dict:
  # Gemma 2's extras (soft caps, sliding window, post-norms, query scaling by hidden / heads) are
  # model_type "gemma2", a different transformers class: refused rather than written wrongly.
  gemma2_settings = {
      "use_post_ffw_norm": False, "use_post_attention_norm": False,
      "attention_logit_soft_cap": None, "final_logit_soft_cap": None,
      "use_sliding_window_attention": False, "query_head_dim_normalize": True}
  for name, expected in gemma2_settings.items():
    if getattr(backbone, name) != expected:
      raise UserError(f"GemmaBackbone with {name}={getattr(backbone, name)} (a Gemma 2 setting) "
                      f"cannot be exported; only Gemma 1 ({name}={expected})")
  return {
      "vocab_size": backbone.vocabulary_size, "hidden_size": backbone.hidden_dim,
      # keras-hub's intermediate_dim counts gate and up together: twice transformers' size.
      "intermediate_size": backbone.intermediate_dim // 2,
      "num_hidden_layers": backbone.num_layers,
      "num_attention_heads": backbone.num_query_heads,
      "num_key_value_heads": backbone.num_key_value_heads, "head_dim": backbone.head_dim,
      "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
      "rms_norm_eps": backbone.layer_norm_epsilon,
      "rope_theta": 10000.0,  # GemmaAttention hard-codes max_wavelength=10_000
      "max_position_embeddings": 8192, "attention_bias": False,
      "attention_dropout": backbone.dropout, "tie_word_embeddings": True}


def _gemma_weights(backbone) -> dict:
  """keras-hub's Gemma map is wrong for more than one key-value head; this is the inverse of its
  reader (utils/transformers/convert_gemma.py), written out."""
  hidden = backbone.hidden_dim

  def heads_to_rows(kernel):  # (heads, hidden, head_dim) -> Linear (heads * head_dim, hidden)
    return np.transpose(_numpy(kernel), (0, 2, 1)).reshape(-1, hidden)

  weights = {"model.embed_tokens.weight": backbone.get_layer("token_embedding").embeddings,
             "model.norm.weight": backbone.get_layer("final_normalization").scale}
  for index in range(backbone.num_layers):
    block = backbone.get_layer(f"decoder_block_{index}")
    attention = block.attention
    prefix = f"model.layers.{index}"
    weights.update({
        f"{prefix}.input_layernorm.weight": block.pre_attention_norm.scale,
        f"{prefix}.post_attention_layernorm.weight": block.pre_ffw_norm.scale,
        f"{prefix}.self_attn.q_proj.weight": heads_to_rows(attention.query_dense.kernel),
        f"{prefix}.self_attn.k_proj.weight": heads_to_rows(attention.key_dense.kernel),
        f"{prefix}.self_attn.v_proj.weight": heads_to_rows(attention.value_dense.kernel),
        # (heads, head_dim, hidden) -> Linear (hidden, heads * head_dim)
        f"{prefix}.self_attn.o_proj.weight": _numpy(attention.output_dense.kernel).reshape(
            -1, hidden).T,
        f"{prefix}.mlp.gate_proj.weight": _numpy(block.gating_ffw.kernel).T,
        f"{prefix}.mlp.up_proj.weight": _numpy(block.gating_ffw_2.kernel).T,
        f"{prefix}.mlp.down_proj.weight": _numpy(block.ffw_linear.kernel).T,
    })
  return weights


# Keyed by keras-hub class; a subclass (Llama3Backbone of LlamaBackbone) finds its parent's entry.
_ARCHITECTURES = {
    keras_hub.models.GPT2Backbone: _Architecture(
        "gpt2", "GPT2LMHeadModel", _gpt2_config, _gpt2_weights, ("gpt2",)),
    keras_hub.models.LlamaBackbone: _Architecture(
        "llama", "LlamaForCausalLM", _llama_config, _llama_weights,
        ("byte_level_bpe", "sentencepiece")),
    keras_hub.models.MistralBackbone: _Architecture(
        "mistral", "MistralForCausalLM", _mistral_config, _mistral_weights, ("sentencepiece",)),
    keras_hub.models.QwenBackbone: _Architecture(
        "qwen2", "Qwen2ForCausalLM", _qwen_config, _qwen_weights, ("byte_level_bpe",)),
    keras_hub.models.GemmaBackbone: _Architecture(
        "gemma", "GemmaForCausalLM", _gemma_config, _gemma_weights, ("sentencepiece",)),
}


def _architecture(backbone) -> _Architecture:
  for cls in type(backbone).__mro__:
    if cls in _ARCHITECTURES:
      return _ARCHITECTURES[cls]
  supported = ", ".join(cls.__name__ for cls in _ARCHITECTURES)
  raise UserError(f"{type(backbone).__name__} cannot be exported to Hugging Face (supported: "
                  f"{supported} and their subclasses such as Llama3Backbone)")


def _variable_dtype(backbone) -> str:
  return keras.backend.standardize_dtype(backbone.token_embedding.embeddings.dtype)


def _numpy(value) -> np.ndarray:
  return keras.ops.convert_to_numpy(value)


# --- Tokenizers -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _TokenizerFormat:
  """The files one kind of keras-hub tokenizer is written as."""
  keras_hub_class: type
  class_name: str  # tokenizer_config.json `tokenizer_class`
  write: Callable[..., None]  # (tokenizer, directory, special tokens, add_bos_token)


def _write_gpt2_files(tokenizer, directory, tokens, add_bos_token):
  # GPT-2's own files: transformers' GPT2Tokenizer splits with GPT-2's regex, as the original
  # GPT-2 did (and as keras-hub's in-graph path nearly does).
  _write_json(directory, "vocab.json", dict(tokenizer.vocabulary))
  with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as handle:
    handle.write("#version: 0.2\n")  # the header transformers' own merges.txt files have
    handle.writelines(f"{merge}\n" for merge in tokenizer.merges
                      if not merge.startswith("#version"))


def _write_tokenizer_json(tokenizer, directory, tokens, add_bos_token):
  """A `tokenizers` file for a byte-level BPE: keras-hub's vocabulary, merges and whole tokens."""
  vocabulary = dict(tokenizer.vocabulary)
  _write_json(directory, "tokenizer.json", {
      "version": "1.0", "truncation": None, "padding": None,
      "added_tokens": [{"id": vocabulary[token], **_added_token(token)}
                       for token in sorted(_whole_tokens(tokenizer, tokens), key=vocabulary.get)],
      "normalizer": None,
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
          {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN_TOKENIZERS},
           "behavior": "Isolated", "invert": False},
          {"type": "ByteLevel", "add_prefix_space": bool(tokenizer.add_prefix_space),
           "trim_offsets": True, "use_regex": False}]},
      # Tools that read tokenizer.json with the `tokenizers` library alone see the start token
      # here; transformers also rebuilds it from tokenizer_config.json's add_bos_token.
      "post_processor": _bos_template(tokens["bos_token"], vocabulary) if add_bos_token else None,
      "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                  "use_regex": True},
      "model": {"type": "BPE", "dropout": None, "unk_token": None,
                "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
                "byte_fallback": False, "ignore_merges": False, "vocab": vocabulary,
                "merges": [merge for merge in tokenizer.merges
                           if not merge.startswith("#version")]},
  })


def _write_sentencepiece_model(tokenizer, directory, tokens, add_bos_token):
  # The serialized SentencePiece model keras-hub tokenizes with, byte for byte.
  with open(os.path.join(directory, "tokenizer.model"), "wb") as handle:
    handle.write(tokenizer.proto)


_TOKENIZER_FORMATS = {
    # First match wins: GPT2Tokenizer is a BytePairTokenizer too.
    "gpt2": _TokenizerFormat(keras_hub.models.GPT2Tokenizer, "GPT2Tokenizer", _write_gpt2_files),
    # transformers 5 rebuilds a named class's pre-tokenizer in its __init__ (Qwen2Tokenizer, ...);
    # only the generic class takes tokenizer.json as it is.
    "byte_level_bpe": _TokenizerFormat(keras_hub.tokenizers.BytePairTokenizer,
                                       "PreTrainedTokenizerFast", _write_tokenizer_json),
    "sentencepiece": _TokenizerFormat(keras_hub.tokenizers.SentencePieceTokenizer, None,
                                      _write_sentencepiece_model),
}
# transformers' SentencePiece classes, by model_type: each adds its own conventions (Gemma no
# dummy prefix, Llama / Mistral a leading "▁"), which the same .model file then follows.
_SENTENCEPIECE_CLASSES = {"gemma": "GemmaTokenizer", "llama": "LlamaTokenizer",
                          "mistral": "LlamaTokenizer"}
# Byte-level BPE classes keras-hub gives its own pre-tokenizer which tokenizer.json cannot state.
_UNWRITABLE_TOKENIZERS = ("MistralTekkenTokenizer",)


def _tokenizer_format(architecture: _Architecture, tokenizer) -> _TokenizerFormat:
  name = next((name for name, tokenizer_format in _TOKENIZER_FORMATS.items()
               if isinstance(tokenizer, tokenizer_format.keras_hub_class)), None)
  if (name not in architecture.tokenizer_formats
      or type(tokenizer).__name__ in _UNWRITABLE_TOKENIZERS):
    raise UserError(f"{type(tokenizer).__name__} cannot be written for a {architecture.model_type} "
                    f"model (supported tokenizers: {', '.join(architecture.tokenizer_formats)})")
  if name == "sentencepiece":
    return dataclasses.replace(_TOKENIZER_FORMATS[name],
                               class_name=_SENTENCEPIECE_CLASSES[architecture.model_type])
  return _TOKENIZER_FORMATS[name]


def _special_tokens(tokenizer, overrides: Optional[Mapping[str, str]]) -> Dict[str, str]:
  """bos/eos/pad/unk: the tokenizer's own, then `overrides`; names whose token is None left out."""
  unknown = set(overrides or {}) - set(SPECIAL_TOKEN_NAMES)
  if unknown:
    raise UserError(f"special_tokens has {sorted(unknown)}; the names are "
                    f"{', '.join(SPECIAL_TOKEN_NAMES)}")
  own = {"bos_token": getattr(tokenizer, "start_token", None),
         "eos_token": getattr(tokenizer, "end_token", None),
         # keras-hub gives most tokenizers pad_token_id 0 without a pad token (GPT-2's id 0 is "!"):
         # only a declared one (Gemma's <pad>) is written.
         "pad_token": getattr(tokenizer, "pad_token", None),
         "unk_token": _sentencepiece_unknown_token(tokenizer)}
  merged = {**own, **(overrides or {})}
  return {name: merged[name] for name in SPECIAL_TOKEN_NAMES if merged.get(name) is not None}


def _sentencepiece_unknown_token(tokenizer) -> Optional[str]:
  """A SentencePiece model's own unknown piece (transformers' classes would assume "<unk>")."""
  if not isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
    return None  # byte-level BPE has no unknown token: every byte is in the vocabulary
  processor = sentencepiece.SentencePieceProcessor(model_proto=tokenizer.proto)
  return processor.id_to_piece(processor.unk_id()) if processor.unk_id() >= 0 else None


def _token_id(tokenizer, token: str) -> int:
  try:
    index = int(tokenizer.token_to_id(token))
  except (KeyError, ValueError):
    index = None
  # SentencePiece maps an unknown piece to <unk>'s id instead of failing: checked both ways.
  if index is None or tokenizer.id_to_token(index) != token:
    raise UserError(f"special token {token!r} is not in the tokenizer's vocabulary")
  return index


def _whole_tokens(tokenizer, tokens: Mapping[str, str]) -> List[str]:
  """The tokens text must keep whole: what keras-hub keeps whole, and the named special tokens."""
  unsplittable = getattr(tokenizer, "unsplittable_tokens", None) or []
  return list(dict.fromkeys([*unsplittable, *tokenizer.special_tokens, *tokens.values()]))


def _added_token(token: str) -> dict:
  """A special token as tokenizer.json and tokenizer_config.json describe one: matched whole."""
  return {"content": token, "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": False, "special": True}


def _bos_template(bos_token: str, vocabulary: Mapping[str, int]) -> dict:
  return {"type": "TemplateProcessing",
          "single": [{"SpecialToken": {"id": bos_token, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}}],
          "pair": [{"SpecialToken": {"id": bos_token, "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": bos_token, "type_id": 1}},
                   {"Sequence": {"id": "B", "type_id": 1}}],
          "special_tokens": {bos_token: {"id": bos_token, "ids": [vocabulary[bos_token]],
                                         "tokens": [bos_token]}}}


def _tokenizer_config(tokenizer, class_name, tokens, add_bos_token, chat_template,
                      max_length) -> dict:
  # added_tokens_decoder tells transformers which tokens are special (kept whole, skipped by
  # decode(skip_special_tokens=True)), also for the formats whose files cannot say it.
  added = {_token_id(tokenizer, token): _added_token(token)
           for token in _whole_tokens(tokenizer, tokens)}
  config = {"tokenizer_class": class_name, **tokens, "add_bos_token": add_bos_token,
            "add_eos_token": False,
            "added_tokens_decoder": {str(index): added[index] for index in sorted(added)},
            "clean_up_tokenization_spaces": False, "model_max_length": max_length}
  if chat_template is not None:
    config["chat_template"] = chat_template
  return config


def _check_jinja(chat_template: str):
  try:
    jinja2.sandbox.ImmutableSandboxedEnvironment().parse(chat_template)
  except jinja2.TemplateSyntaxError as error:
    raise UserError(f"chat_template is not valid Jinja (line {error.lineno}: {error.message}); "
                    "pass the template text itself") from None


def _write_json(directory: str, name: str, value):
  with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
    json.dump(value, handle, indent=2, ensure_ascii=False)
    handle.write("\n")
