"""Where a causal LM's weights, tokenizer, special tokens and chat template come from.

--init_checkpoint for --model=causal_lm accepts
  * a GGUF file (llama.cpp's format, e.g. SmolLM2-135M-Instruct-Q4_1.gguf): dequantized into a
    keras-hub Llama3Backbone, tokenizer and template from its own metadata (gguf_checkpoint.py);
  * a local Hugging Face directory of a decoder-only model keras-hub 0.32 converts (model_type
    gpt2, llama, mistral, qwen2, gemma, ...): config.json, model.safetensors, the tokenizer files
    and tokenizer_config.json (special tokens, add_bos_token, chat_template);
  * a Hugging Face Hub id, hf://<org>/<name> (downloaded into the Hugging Face cache);
  * a keras-hub preset name (e.g. gpt2_base_en, downloaded from Kaggle) or a local keras-hub
    preset directory.
All of them end as one `CheckpointParts`: the caller never needs to know which it was.
"""

import dataclasses
import json
import os
from typing import Dict, Optional, Sequence, Tuple

import keras_hub
from absl import logging

from tfsft import downloads
from tfsft.data import chat_template
from tfsft.errors import UserError
from tfsft.models import gguf_checkpoint, special_tokens

HUGGING_FACE_HUB = "hf://"
DEFAULT_PRESET = "gpt2_base_en"
_LOCAL_ALTERNATIVE = ("pass --init_checkpoint=<a .gguf file, or a local Hugging Face or keras-hub "
                      "directory>")
# Hugging Face model types whose keras-hub converter drops rms_norm_eps (it keeps its own default).
_EPSILON_NOT_READ = ("llama", "gemma")
_SMALL_FILES = ("*.json", "*.jinja", "*.txt", "*.model")  # what templates and tokens are read from


@dataclasses.dataclass
class CheckpointParts:
  backbone: keras_hub.models.Backbone
  tokenizer: keras_hub.tokenizers.Tokenizer
  special_tokens: Dict[str, str]  # bos_token, eos_token, ... as the chat template sees them
  stop_token_ids: Tuple[int, ...]  # generation ends at these (end of sequence / end of turn)
  add_bos_token: bool  # whether the checkpoint's tokenizer starts every text with bos
  template_dir: Optional[str]  # a Hugging Face directory holding the chat template, if any
  gguf_template: Optional[str]  # a GGUF file's tokenizer.chat_template, if any
  context_length: Optional[int]  # the longest sequence the model was trained on, when known
  description: str  # for the log: which source was read


def load(checkpoint: Optional[str], dtype=None) -> CheckpointParts:
  """The parts of `checkpoint` (DEFAULT_PRESET when None); `dtype` is a Keras dtype policy."""
  checkpoint = checkpoint or DEFAULT_PRESET
  if checkpoint.lower().endswith(".gguf"):
    return _from_gguf(checkpoint, dtype)
  if checkpoint.startswith(HUGGING_FACE_HUB):
    return _from_hugging_face(_downloaded_small_files(checkpoint), checkpoint, dtype,
                              f"Hugging Face Hub model {checkpoint} (downloaded or read from the "
                              "Hugging Face cache)")
  if os.path.isdir(checkpoint):
    config = _json(os.path.join(checkpoint, "config.json"), checkpoint)
    if "model_type" in config:
      return _from_hugging_face(checkpoint, checkpoint, dtype,
                                f"local Hugging Face directory {checkpoint}")
    return _from_keras_hub_preset(checkpoint, dtype, f"local keras-hub preset {checkpoint}")
  if os.path.exists(checkpoint):
    raise UserError(f"--init_checkpoint={checkpoint} is a file but not .gguf: pass a GGUF file or "
                    "a checkpoint directory")
  if "://" in checkpoint or checkpoint in keras_hub.models.CausalLM.presets:
    return _from_keras_hub_preset(checkpoint, dtype, f"keras-hub preset '{checkpoint}' "
                                  "(downloaded or read from the keras-hub cache)")
  raise UserError(f"--init_checkpoint={checkpoint} is neither a local file or directory nor a "
                  "keras-hub causal-LM preset (e.g. gpt2_base_en); " + _LOCAL_ALTERNATIVE)


def _from_gguf(path: str, dtype) -> CheckpointParts:
  if not os.path.isfile(path):
    raise UserError(f"--init_checkpoint={path} does not exist: pass the path of a .gguf file")
  model = gguf_checkpoint.load_gguf(path, dtype or "float32")
  tokenizer = model.tokenizer
  ids = model.special_token_ids
  names = {"bos_token": ids.bos, "eos_token": ids.eos, "pad_token": ids.pad, "unk_token": ids.unk}
  return CheckpointParts(
      backbone=model.backbone, tokenizer=tokenizer,
      special_tokens={name: tokenizer.id_to_token(index) for name, index in names.items()
                      if index is not None},
      stop_token_ids=ids.stop_token_ids, add_bos_token=model.add_bos_token, template_dir=None,
      gguf_template=model.chat_template, context_length=model.context_length,
      description=model.description)


def _from_hugging_face(directory: str, name: str, dtype, description: str) -> CheckpointParts:
  config = _json(os.path.join(directory, "config.json"), name)
  overrides = {}
  if config.get("model_type") in _EPSILON_NOT_READ and "rms_norm_eps" in config:
    overrides["layer_norm_epsilon"] = config["rms_norm_eps"]
  if config.get("model_type") == "gpt2" and config.get("n_inner"):
    overrides["intermediate_dim"] = config["n_inner"]  # keras-hub assumes 4 * n_embd
  if dtype:
    overrides["dtype"] = dtype
  preset = name if name.startswith(HUGGING_FACE_HUB) else directory
  backbone, tokenizer = _backbone_and_tokenizer(preset, name, overrides)
  tokens = chat_template.checkpoint_special_tokens(directory)
  templates = chat_template.checkpoint_templates(directory)
  settings = _json(os.path.join(directory, "tokenizer_config.json"), name, required=False)
  tokenizer = _keep_few_tokens_whole(tokenizer, tokens, "\n".join(templates.values()),
                                     _added_tokens(settings))
  generation = _json(os.path.join(directory, "generation_config.json"), name, required=False)
  stop = _ids(generation.get("eos_token_id", config.get("eos_token_id")))
  if tokens.get("eos_token") is not None:
    stop += (tokenizer.token_to_id(tokens["eos_token"]),)
  return CheckpointParts(
      backbone=backbone, tokenizer=tokenizer, special_tokens=tokens,
      stop_token_ids=tuple(dict.fromkeys(stop or _ids(tokenizer.end_token_id))),
      # transformers' GPT-2 tokenizer adds nothing; Llama's adds <s> unless told otherwise.
      add_bos_token=bool(settings.get("add_bos_token", config.get("model_type") == "llama")),
      template_dir=directory, gguf_template=None,
      context_length=config.get("max_position_embeddings", config.get("n_positions")),
      description=f"{description} ({type(backbone).__name__}, "
                  f"{backbone.count_params():,} parameters)")


def _from_keras_hub_preset(preset: str, dtype, description: str) -> CheckpointParts:
  backbone, tokenizer = _backbone_and_tokenizer(preset, preset, {"dtype": dtype} if dtype else {})
  start = getattr(tokenizer, "start_token_id", None)
  return CheckpointParts(
      backbone=backbone, tokenizer=tokenizer,
      special_tokens={name: tokenizer.id_to_token(index) for name, index in
                      (("bos_token", start), ("eos_token", tokenizer.end_token_id))
                      if index is not None},
      stop_token_ids=_ids(tokenizer.end_token_id),
      # keras-hub's causal-LM preprocessors add the start token by default.
      add_bos_token=start is not None, template_dir=None, gguf_template=None,
      context_length=getattr(backbone, "max_sequence_length", None),
      description=f"{description} ({type(backbone).__name__})")


def _backbone_and_tokenizer(preset: str, name: str, backbone_kwargs: dict):
  """The preset's backbone, and the tokenizer of that backbone's causal LM. keras-hub's generic
  `Tokenizer.from_preset` picks among the classes registered for the backbone in set order, so a
  Mistral directory gives MistralTokenizer or an empty MistralTekkenTokenizer depending on the
  process (hugging_face_export.py's docstring); the causal LM's own tokenizer class is the one."""
  try:
    backbone = keras_hub.models.Backbone.from_preset(preset, **backbone_kwargs)
    _check_decoder_only(backbone, name)
    tokenizer_class = causal_lm_class(backbone).preprocessor_cls.tokenizer_cls
    return backbone, tokenizer_class.from_preset(preset)
  except (OSError, ValueError, KeyError, ImportError) as error:
    raise downloads.failure(f"the causal LM {name}", error, _LOCAL_ALTERNATIVE) from None


def causal_lm_class(backbone):
  """The keras-hub CausalLM task class built on `backbone`'s class (GPT2CausalLM for GPT2Backbone)."""
  pending = list(keras_hub.models.CausalLM.__subclasses__())
  while pending:
    task = pending.pop()
    if getattr(task, "backbone_cls", None) is type(backbone):
      return task
    pending += task.__subclasses__()
  return None


def _check_decoder_only(backbone, name):
  if causal_lm_class(backbone) is None:
    raise UserError(f"--init_checkpoint={name} is a {type(backbone).__name__}, which has no "
                    "keras-hub causal LM: pass a decoder-only model (GPT-2, Llama, Mistral, Qwen, "
                    "Gemma)")


def _keep_few_tokens_whole(tokenizer, tokens: Dict[str, str], template: str,
                           added_tokens: Sequence[str]):
  """A byte-level BPE tokenizer rebuilt to keep whole exactly the few special tokens that matter
  (special_tokens.py): keras-hub's converters make every added token unsplittable (Llama 3,
  Qwen; Qwen's in set order, and real checkpoints have more than keras-hub handles in graphs),
  or only <|endoftext|> (GPT-2, whose vocab.json cannot say which tokens are special, so a
  ChatML GPT-2's <|im_start|> came out as 12 byte pieces). SentencePiece keeps its own
  user-defined symbols whole and is left as it is."""
  if not isinstance(tokenizer, keras_hub.tokenizers.BytePairTokenizer):
    return tokenizer
  vocabulary = tokenizer.vocabulary
  candidates = list(tokenizer.unsplittable_tokens or []) + list(added_tokens)
  keep = special_tokens.tokens_to_keep_whole(
      [tokens.get(name) for name in chat_template.SPECIAL_TOKEN_NAMES],
      [token for token in dict.fromkeys(candidates) if token in vocabulary], template)
  keep = [token for token in keep if token in vocabulary]  # a named token may be text only
  logging.info("Special tokens kept whole: %s.", keep)
  if isinstance(tokenizer, keras_hub.models.Llama3Tokenizer):
    return special_tokens.llama3_tokenizer(vocabulary, tokenizer.merges, tokenizer.start_token,
                                           tokenizer.end_token, keep)
  rebuilt = type(tokenizer).from_config({**tokenizer.get_config(), "unsplittable_tokens": keep})
  rebuilt.set_vocabulary_and_merges(vocabulary, tokenizer.merges)
  return rebuilt


def _added_tokens(tokenizer_config: dict) -> Tuple[str, ...]:
  """The special tokens tokenizer_config.json declares (`added_tokens_decoder`)."""
  added = tokenizer_config.get("added_tokens_decoder") or {}
  return tuple(entry["content"] for entry in added.values()
               if isinstance(entry, dict) and entry.get("special", True) and
               isinstance(entry.get("content"), str))


def _downloaded_small_files(checkpoint: str) -> str:
  """A local folder with an hf:// model's configuration and tokenizer files (no weights)."""
  import huggingface_hub  # keras-hub's own route to hf:// presets
  try:
    return huggingface_hub.snapshot_download(repo_id=checkpoint[len(HUGGING_FACE_HUB):],
                                             allow_patterns=list(_SMALL_FILES))
  except Exception as error:  # network, authentication or a missing repository
    raise downloads.failure(f"the files of {checkpoint}", error, _LOCAL_ALTERNATIVE) from None


def _json(path: str, checkpoint: str, required: bool = True) -> dict:
  if not os.path.isfile(path):
    if required:
      raise UserError(f"--init_checkpoint={checkpoint} has no {os.path.basename(path)}: pass a "
                      "Hugging Face or keras-hub checkpoint directory, or a .gguf file")
    return {}
  try:
    with open(path, encoding="utf-8") as handle:
      return json.load(handle)
  except ValueError as error:
    raise UserError(f"{path} is not valid JSON ({error}): fix or replace the file") from None


def _ids(value) -> Tuple[int, ...]:
  if value is None:
    return ()
  return tuple(int(i) for i in (value if isinstance(value, (list, tuple)) else [value]))
