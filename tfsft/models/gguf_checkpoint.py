"""Llama-architecture GGUF files (llama.cpp's checkpoint format) as keras-hub causal-LM parts.

`load_gguf(path)` reads one `.gguf` file with the `gguf` package (llama.cpp's own Python reader and
dequantizer) and returns a `keras_hub.models.Llama3Backbone` with every weight assigned, plus a
`keras_hub.models.Llama3Tokenizer` built from the file's own vocabulary, merges and special tokens.
keras-hub 0.32 reads Keras presets and Hugging Face directories but not GGUF, so nothing is written
to disk: the tensors are dequantized one at a time (a Q4_1 file of 98 MB becomes 538 MB of float32
weights) and assigned straight into the backbone.

Facts this relies on are in ../shared/models/smollm2-135m-instruct/README.md ("What a loader must
do", "Tokenizer", "keras-hub 0.32 facts and traps"), checked against transformers' GGUF loader:
  * the GGUF -> keras-hub names table (`_placements`);
  * llama.cpp's converter reorders the rows of attn_q / attn_k inside every head for its interleaved
    RoPE; forgetting to undo it crashes nothing but raises SmolLM2's perplexity from 25.2 to 45.4
    (`undo_rotary_permutation`);
  * keras-hub's in-graph BPE breaks special tokens when it is given more than 10 of them
    (`_unsplittable_tokens`).
"""

import collections
import dataclasses
import functools
import os
import re
from typing import Dict, List, Optional, Sequence

import gguf
import keras
import keras_hub
import numpy as np
from absl import logging

from tfsft.errors import UserError
from tfsft.models import special_tokens

SUPPORTED_ARCHITECTURE = "llama"
# tokenizer.ggml.model "gpt2" is byte-level BPE, what keras-hub's BytePairTokenizer implements;
# "llama" (SentencePiece) and the others are not.
SUPPORTED_TOKENIZER_MODEL = "gpt2"
MAX_UNSPLITTABLE_TOKENS = special_tokens.MAX_UNSPLITTABLE_TOKENS  # see models/special_tokens.py
# This loader gives Llama3Backbone plain RoPE, so a file asking for scaled RoPE (linear, yarn,
# Llama 3.1's rope_freqs) is refused rather than run wrongly.
_NO_ROPE_SCALING = ("none",)
_BLOCK_TENSOR = re.compile(r"blk\.(\d+)\.(\w+)\.weight")
_REQUIRED = object()  # `_metadata` default: a missing key is a UserError


@dataclasses.dataclass(frozen=True)
class SpecialTokenIds:
  """The ids tokenizer.ggml.<name>_token_id gives; None where the file names none."""
  bos: int
  # What llama.cpp stops generating at. In chat models it ends an assistant turn (SmolLM2:
  # <|im_end|>), so it is also the token to append to training targets.
  eos: int
  pad: Optional[int]
  unk: Optional[int]
  eot: Optional[int] = None  # a separate end-of-turn token some files name (Llama 3: <|eot_id|>)

  @property
  def stop_token_ids(self) -> tuple:
    """Tokens that end generation: eos, and eot where the file has one."""
    return tuple(dict.fromkeys(i for i in (self.eos, self.eot) if i is not None))


@dataclasses.dataclass(frozen=True)
class GgufModel:
  backbone: keras_hub.models.Llama3Backbone  # weights assigned, dequantized to `dtype`
  tokenizer: keras_hub.models.Llama3Tokenizer
  special_token_ids: SpecialTokenIds
  # tokenizer.ggml.add_bos_token (False if absent): whether to prepend BOS. False for ChatML models,
  # whose prompts begin with the template's own <|im_start|>: build keras-hub preprocessors with
  # add_start_token=False and `packer.start_value = None` (generate() ignores add_start_token).
  add_bos_token: bool
  chat_template: Optional[str]  # tokenizer.chat_template (Jinja), None when absent
  context_length: Optional[int]  # llama.context_length: the longest sequence it was trained on
  description: str  # file, model name, sizes and tensor types, for logs


@dataclasses.dataclass(frozen=True)
class LlamaShape:
  """The hyper-parameters of a llama GGUF that Llama3Backbone needs."""
  vocabulary_size: int
  num_layers: int
  hidden_dim: int
  intermediate_dim: int
  num_query_heads: int
  num_key_value_heads: int
  rope_max_wavelength: float
  layer_norm_epsilon: float
  tie_word_embeddings: bool  # the file has no output.weight: the head reuses token_embd

  @property
  def head_dim(self) -> int:
    return self.hidden_dim // self.num_query_heads


def load_gguf(path: str, dtype="float32") -> GgufModel:
  """A keras-hub Llama backbone and tokenizer from a llama GGUF file; `UserError` if unsupported.

  `dtype` is the backbone's Keras dtype policy ("float32", "bfloat16", "mixed_bfloat16", ...): the
  weights are dequantized to float32 and cast by the variables they are assigned to.
  """
  reader = _open(path)
  _check_architecture(reader, path)
  _check_tensor_types(reader, path)
  shape = _llama_shape(reader, path)
  tokenizer, special_token_ids = _tokenizer(reader, path)
  if tokenizer.vocabulary_size() != shape.vocabulary_size:
    raise UserError(f"{path}: the tokenizer has {tokenizer.vocabulary_size()} tokens but the model "
                    f"{shape.vocabulary_size}")
  backbone = _backbone(shape, dtype)
  _assign_weights(reader, path, backbone, shape)
  description = _describe(reader, path, shape)
  logging.info("Loaded %s.", description)
  return GgufModel(
      backbone=backbone, tokenizer=tokenizer, special_token_ids=special_token_ids,
      add_bos_token=bool(_metadata(reader, path, "tokenizer.ggml.add_bos_token", False)),
      chat_template=_metadata(reader, path, "tokenizer.chat_template", None),
      context_length=_metadata(reader, path, f"{SUPPORTED_ARCHITECTURE}.context_length", None),
      description=description)


def load_gguf_tokenizer(path: str) -> keras_hub.models.Llama3Tokenizer:
  """Only the tokenizer of a GGUF file (reads metadata, no weights): for data pipelines."""
  reader = _open(path)
  _check_architecture(reader, path)
  return _tokenizer(reader, path)[0]


def undo_rotary_permutation(rows: np.ndarray, num_heads: int) -> np.ndarray:
  """attn_q / attn_k rows from llama.cpp's interleaved-RoPE order back to Hugging Face's.

  llama.cpp's converter wrote Hugging Face row `a * head_dim/2 + b` of each head (a in {0, 1}) to
  row `b * 2 + a`; this is transformers' `reverse_permute_weights` (integrations/ggml.py).
  `num_heads` is the query heads for attn_q and the key-value heads for attn_k.
  """
  half_head = rows.shape[0] // num_heads // 2
  by_pair = rows.reshape(num_heads, half_head, 2, *rows.shape[1:])
  return by_pair.swapaxes(1, 2).reshape(rows.shape)


# --- Reading the file -----------------------------------------------------------------------------


def _open(path: str) -> gguf.GGUFReader:
  try:
    return gguf.GGUFReader(path)  # memory-maps the file: tensors are read when dequantized
  except FileNotFoundError:
    raise UserError(f"{path}: no such GGUF file") from None
  except (ValueError, OSError) as error:
    raise UserError(f"{path} is not a GGUF file the gguf package can read ({error})") from None


def _metadata(reader: gguf.GGUFReader, path: str, key: str, default=_REQUIRED):
  field = reader.fields.get(key)
  if field is None:
    if default is _REQUIRED:
      raise UserError(f"{path}: the GGUF metadata has no '{key}'")
    return default
  return field.contents()


def _check_architecture(reader, path):
  architecture = _metadata(reader, path, "general.architecture")
  if architecture != SUPPORTED_ARCHITECTURE:
    raise UserError(f"{path}: GGUF architecture '{architecture}' is not supported "
                    f"(supported: '{SUPPORTED_ARCHITECTURE}', e.g. Llama 2/3, SmolLM, TinyLlama)")


@functools.cache
def dequantizable_types() -> frozenset:
  """The GGML tensor types the installed `gguf` package can dequantize, found by asking it."""
  supported = set()
  for tensor_type in gguf.GGMLQuantizationType:
    _, bytes_per_block = gguf.GGML_QUANT_SIZES[tensor_type]
    try:
      gguf.quants.dequantize(np.zeros((1, bytes_per_block), np.uint8), tensor_type)
    except NotImplementedError:
      continue
    supported.add(tensor_type)
  return frozenset(supported)


def _check_tensor_types(reader, path):
  """Refuses the file before anything is built if one tensor's type cannot be dequantized."""
  for tensor in reader.tensors:
    if tensor.tensor_type not in dequantizable_types():
      supported = ", ".join(sorted(t.name for t in dequantizable_types()))
      raise UserError(f"{path}: tensor {tensor.name} has GGML type {tensor.tensor_type.name}, "
                      f"which the gguf package cannot dequantize (supported: {supported})")


def _llama_shape(reader, path) -> LlamaShape:
  def value(key, default=_REQUIRED):
    return _metadata(reader, path, f"{SUPPORTED_ARCHITECTURE}.{key}", default)

  tensor_names = {tensor.name for tensor in reader.tensors}
  num_query_heads = value("attention.head_count")
  # Older files leave out vocab_size; the token list is then the vocabulary.
  tokens = _metadata(reader, path, "tokenizer.ggml.tokens")
  vocabulary_size = value("vocab_size", None) or len(tokens)
  shape = LlamaShape(
      vocabulary_size=vocabulary_size,
      num_layers=value("block_count"),
      hidden_dim=value("embedding_length"),
      intermediate_dim=value("feed_forward_length"),
      num_query_heads=num_query_heads,
      num_key_value_heads=value("attention.head_count_kv", num_query_heads),
      rope_max_wavelength=value("rope.freq_base", 10000.0),  # llama.cpp's default too
      # Hugging Face's rms_norm_eps; keras-hub's own HF converter drops it (README), we do not.
      layer_norm_epsilon=value("attention.layer_norm_rms_epsilon"),
      tie_word_embeddings="output.weight" not in tensor_names)
  _check_attention_geometry(shape, path, value)
  return shape


def _check_attention_geometry(shape: LlamaShape, path: str, value):
  """Llama3Backbone makes head_dim hidden / heads and rotates all of it: refuse anything else."""
  if shape.hidden_dim % shape.num_query_heads:
    raise UserError(f"{path}: hidden size {shape.hidden_dim} is not a multiple of "
                    f"{shape.num_query_heads} attention heads")
  for key in ("attention.key_length", "attention.value_length", "rope.dimension_count"):
    size = value(key, shape.head_dim)
    if size != shape.head_dim:
      raise UserError(f"{path}: {SUPPORTED_ARCHITECTURE}.{key} = {size} but keras-hub's Llama "
                      f"needs hidden size / heads = {shape.head_dim}")
  scaling = value("rope.scaling.type", "none")
  if scaling not in _NO_ROPE_SCALING:
    raise UserError(f"{path}: RoPE scaling '{scaling}' is not supported (only unscaled RoPE)")


def _describe(reader, path, shape: LlamaShape) -> str:
  name = _metadata(reader, path, "general.name", "unnamed")
  types = collections.Counter(tensor.tensor_type.name for tensor in reader.tensors)
  tensor_types = ", ".join(f"{count} {name}" for name, count in types.most_common())
  heads = f"{shape.num_query_heads}/{shape.num_key_value_heads} query/key-value heads"
  return (f"GGUF {os.path.basename(path)} ({name}): llama, {shape.num_layers} layers, hidden "
          f"{shape.hidden_dim}, {heads}, vocabulary {shape.vocabulary_size}, "
          f"tensors {tensor_types}")


# --- Tokenizer ------------------------------------------------------------------------------------


def _tokenizer(reader, path):
  model = _metadata(reader, path, "tokenizer.ggml.model")
  if model != SUPPORTED_TOKENIZER_MODEL:
    raise UserError(f"{path}: tokenizer.ggml.model '{model}' is not supported (supported: "
                    f"'{SUPPORTED_TOKENIZER_MODEL}', byte-level BPE)")
  tokens = _metadata(reader, path, "tokenizer.ggml.tokens")
  token_types = _metadata(reader, path, "tokenizer.ggml.token_type")
  ids = _special_token_ids(reader, path, len(tokens))
  chat_template = _metadata(reader, path, "tokenizer.chat_template", None)
  unsplittable = _unsplittable_tokens(tokens, token_types, ids, chat_template)
  # The pre-tokenizer (tokenizer.ggml.pre) is keras-hub's GPT-2 / Llama 3 split either way; for
  # SmolLM2 ("smollm": digits split one by one) the ids agree because its vocabulary has no
  # multi-digit tokens (README "Tokenizer").
  logging.info("GGUF tokenizer: %d tokens, pre-tokenizer '%s', unsplittable %s", len(tokens),
               _metadata(reader, path, "tokenizer.ggml.pre", "default"), unsplittable)
  tokenizer = special_tokens.llama3_tokenizer(
      {token: index for index, token in enumerate(tokens)},
      _metadata(reader, path, "tokenizer.ggml.merges"), tokens[ids.bos], tokens[ids.eos],
      unsplittable)
  if ids.pad is not None:
    # Llama3Tokenizer hard-codes 0 and does not serialize it; padding masks make either harmless,
    # the file's own id is what llama.cpp and transformers pad with.
    tokenizer.pad_token_id = ids.pad
  return tokenizer, ids


def _special_token_ids(reader, path, vocabulary_size) -> SpecialTokenIds:
  def token_id(name, default=None):
    index = _metadata(reader, path, f"tokenizer.ggml.{name}_token_id", default)
    if index is not None and not 0 <= index < vocabulary_size:
      raise UserError(f"{path}: tokenizer.ggml.{name}_token_id = {index} is not one of the "
                      f"{vocabulary_size} tokens")
    return index

  # bos and eos are required: keras-hub's tokenizer needs a start and an end token.
  return SpecialTokenIds(bos=token_id("bos", _REQUIRED), eos=token_id("eos", _REQUIRED),
                         pad=token_id("padding"), unk=token_id("unknown"), eot=token_id("eot"))


def _unsplittable_tokens(tokens: Sequence[str], token_types: Sequence[int], ids: SpecialTokenIds,
                         chat_template: Optional[str]) -> List[str]:
  """The control tokens text must keep whole: bos/eos/pad/unk/eot, then the chat template's.

  Only these, never all control tokens (special_tokens.MAX_UNSPLITTABLE_TOKENS); SmolLM2's 14 code
  tokens (<repo_name>, ...) then stay plain text, on both the eager and the in-graph path.
  """
  control = [token for token, kind in zip(tokens, token_types) if kind == gguf.TokenType.CONTROL]
  named = [tokens[index] for index in dataclasses.astuple(ids) if index is not None]
  return special_tokens.tokens_to_keep_whole(named, control, chat_template)


# --- Weights --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Placement:
  """Where one GGUF tensor goes and how to get it there."""
  variable: keras.Variable
  gguf_shape: tuple  # row-major, i.e. (out_features, in_features) like a torch Linear.weight
  transposed: bool  # Linear weights are (out, in); Keras kernels are (in, out)
  rotary_heads: Optional[int] = None  # attn_q / attn_k: heads over which llama.cpp permuted rows


def _backbone(shape: LlamaShape, dtype) -> keras_hub.models.Llama3Backbone:
  return keras_hub.models.Llama3Backbone(
      vocabulary_size=shape.vocabulary_size, num_layers=shape.num_layers,
      num_query_heads=shape.num_query_heads, hidden_dim=shape.hidden_dim,
      intermediate_dim=shape.intermediate_dim, num_key_value_heads=shape.num_key_value_heads,
      rope_max_wavelength=shape.rope_max_wavelength, layer_norm_epsilon=shape.layer_norm_epsilon,
      tie_word_embeddings=shape.tie_word_embeddings, dtype=dtype)


def _placements(backbone, shape: LlamaShape) -> Dict[str, _Placement]:
  """GGUF tensor name -> placement: the README's names table."""
  embedding = backbone.get_layer("token_embedding")
  hidden, inner = shape.hidden_dim, shape.intermediate_dim
  queries = shape.num_query_heads * shape.head_dim
  keys = shape.num_key_value_heads * shape.head_dim
  placements = {
      "token_embd.weight": _Placement(embedding.embeddings, (shape.vocabulary_size, hidden), False),
      "output_norm.weight": _Placement(
          backbone.get_layer("sequence_output_layernorm").scale, (hidden,), False),
  }
  if not shape.tie_word_embeddings:
    placements["output.weight"] = _Placement(
        embedding.reverse_embeddings, (shape.vocabulary_size, hidden), True)
  for index in range(shape.num_layers):
    # The private attributes keras-hub's own converter (utils/transformers/convert_llama3.py) uses.
    layer = backbone.get_layer(f"transformer_layer_{index}")
    attention = layer._self_attention_layer  # pylint: disable=protected-access
    block = {
        "attn_norm": _Placement(layer._self_attention_layernorm.scale, (hidden,), False),
        "attn_q": _Placement(attention._query_dense.kernel, (queries, hidden), True,
                             rotary_heads=shape.num_query_heads),
        "attn_k": _Placement(attention._key_dense.kernel, (keys, hidden), True,
                             rotary_heads=shape.num_key_value_heads),
        "attn_v": _Placement(attention._value_dense.kernel, (keys, hidden), True),
        "attn_output": _Placement(attention._output_dense.kernel, (hidden, queries), True),
        "ffn_norm": _Placement(layer._feedforward_layernorm.scale, (hidden,), False),
        "ffn_gate": _Placement(layer._feedforward_gate_dense.kernel, (inner, hidden), True),
        "ffn_up": _Placement(layer._feedforward_intermediate_dense.kernel, (inner, hidden), True),
        "ffn_down": _Placement(layer._feedforward_output_dense.kernel, (hidden, inner), True),
    }
    placements.update({f"blk.{index}.{name}.weight": place for name, place in block.items()})
  return placements


def _assign_weights(reader, path, backbone, shape: LlamaShape):
  """Dequantizes and assigns tensor by tensor, so at most one float copy is alive at a time."""
  placements = _placements(backbone, shape)
  for tensor in reader.tensors:
    placement = placements.pop(tensor.name, None)
    if placement is None:
      raise UserError(f"{path}: tensor {tensor.name} has no place in keras-hub's Llama "
                      f"({_unplaced_reason(tensor.name, shape)})")
    # GGUF lists dimensions fastest first: reversed, (out_features, in_features) as in the README.
    row_major_shape = tuple(int(size) for size in reversed(tensor.shape))
    if row_major_shape != placement.gguf_shape:
      raise UserError(f"{path}: tensor {tensor.name} has shape {row_major_shape} but the file's "
                      f"llama metadata needs {placement.gguf_shape}")
    weight = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(row_major_shape)
    placement.variable.assign(_to_keras_layout(weight, placement))
  if placements:
    raise UserError(f"{path}: the GGUF lacks {len(placements)} tensors of a {shape.num_layers}-"
                    f"layer llama, e.g. {sorted(placements)[:3]}")


def _to_keras_layout(weight: np.ndarray, placement: _Placement) -> np.ndarray:
  if placement.rotary_heads:
    weight = undo_rotary_permutation(weight, placement.rotary_heads)
  if placement.transposed:
    weight = weight.T
  # Attention kernels are (hidden, heads, head_dim) / (heads, head_dim, hidden) in keras-hub.
  return weight.reshape(placement.variable.shape)


def _unplaced_reason(name: str, shape: LlamaShape) -> str:
  block = _BLOCK_TENSOR.fullmatch(name)
  if block and int(block.group(1)) >= shape.num_layers:
    return f"llama.block_count is {shape.num_layers}"
  return ("supported: token_embd, output_norm, output and blk.N.{attn_norm, attn_q, attn_k, "
          "attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}; no biases, no rope_freqs")
