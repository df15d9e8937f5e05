"""Decoder-only language models from keras-hub (--model=causal_lm): GPT-2, Llama / Llama 3 /
SmolLM, Mistral, Qwen, Gemma, with the architecture, tokenizer, special tokens and chat template
of the checkpoint (causal_lm_checkpoints.py lists what --init_checkpoint accepts).

A `CausalLanguageModel` is what tasks see: the keras-hub CausalLM (its `call_with_cache` drives
generation, its backbone's layers compute training logits), the tokenizer, the chat template and
the ids that start and stop a text. `save` keeps all of it but the weights in the model_dir, in
our own record: keras-hub's preset round trip drops the tokenizer's special tokens and
`tie_word_embeddings` (GUIDE.md), and a Llama3Tokenizer cannot be deserialized with other special
tokens than Llama 3's.
"""

import dataclasses
import os
from typing import Dict, Optional, Tuple

import keras
import keras_hub
import numpy as np
from absl import logging

from tfsft.config import ModelConfig
from tfsft.data import chat_template
from tfsft.errors import UserError
from tfsft.generation import DecodingSettings
from tfsft.models import causal_lm_checkpoints, special_tokens
from tfsft.models.encoder import ModelFamily, read_json, write_json

FALLBACK_TEMPLATE = "alpaca"  # for checkpoints without a chat template (base models)
_PROMPT_TOKENS = 512  # prompt tokens kept when no --max_seq_length says otherwise
_RECORD, _BACKBONE, _TOKENIZER, _LLAMA3_TOKENIZER = ("causal_lm.json", "backbone.json",
                                                     "tokenizer.json", "llama3_tokenizer.json")


@dataclasses.dataclass
class CausalLanguageModel:
  causal_lm: keras_hub.models.CausalLM  # without a preprocessor: tfsft tokenizes itself
  tokenizer: keras_hub.tokenizers.Tokenizer
  template: chat_template.ChatTemplate
  special_tokens: Dict[str, str]  # what the template sees as bos_token, eos_token, ...
  start_token_id: Optional[int]  # put before every text, when the checkpoint's tokenizer does
  end_token_id: int  # ends a plain-text document (language modeling)
  stop_token_ids: Tuple[int, ...]  # generation stops at these
  pad_token_id: int
  context_length: Optional[int]  # the most positions the model takes, when it has a limit
  description: str
  decoding: DecodingSettings  # how the run's evaluation and its export generate (--max_new_tokens, ...)
  max_prompt_tokens: int  # --max_seq_length: prompts keep their last this many tokens

  @property
  def backbone(self):
    return self.causal_lm.backbone

  def token_ids(self, texts) -> list:
    """Eager: each text's int32 token ids (special tokens in the text kept whole)."""
    if not texts:
      return []
    ids = self.tokenizer(list(texts))
    # keras-hub's eager BPE answers lists of lists (its Hugging Face `tokenizers` path); in
    # graphs, and for other tokenizers, a RaggedTensor.
    rows = ids.to_list() if hasattr(ids, "to_list") else ids
    return [np.asarray(row, np.int32) for row in rows]

  def with_start_token(self, ids: np.ndarray) -> np.ndarray:
    """`ids` with the start token in front, when the model wants one and the text lacks it (a
    template that writes {{ bos_token }} brings its own)."""
    if self.start_token_id is None or (len(ids) and ids[0] == self.start_token_id):
      return ids
    return np.concatenate([[self.start_token_id], ids]).astype(np.int32)


def check_flags(config: ModelConfig):
  if config.pretrained_embeddings or config.pretrained_target_embeddings:
    raise UserError("--pretrained_embeddings is for the LSTM models; a causal LM brings its own "
                    "embeddings")
  decoding_settings(config, stop_token_ids=(), pad_token_id=0)  # refuses conflicting flags


def build(config: ModelConfig, train_examples=None) -> CausalLanguageModel:
  del train_examples  # the vocabulary comes with the checkpoint
  parts = causal_lm_checkpoints.load(config.init_checkpoint, keras.config.dtype_policy().name)
  logging.info("Initialising the causal LM from %s.", parts.description)
  template = _resolve_template(config.chat_template, parts)
  return _model(parts.backbone, parts.tokenizer, template, parts.special_tokens,
                parts.add_bos_token, parts.stop_token_ids, parts.context_length, config,
                parts.description)


def save(model: CausalLanguageModel, directory: str):
  write_json(os.path.join(directory, _BACKBONE), keras.saving.serialize_keras_object(model.backbone))
  tokenizer = model.tokenizer
  if isinstance(tokenizer, keras_hub.models.Llama3Tokenizer):
    write_json(os.path.join(directory, _LLAMA3_TOKENIZER), {
        "vocabulary": tokenizer.vocabulary, "merges": list(tokenizer.merges),
        "bos_token": tokenizer.start_token, "eos_token": tokenizer.end_token,
        "keep_whole": list(tokenizer.unsplittable_tokens)})
  else:
    write_json(os.path.join(directory, _TOKENIZER), keras.saving.serialize_keras_object(tokenizer))
    tokenizer.save_assets(directory)
  write_json(os.path.join(directory, _RECORD), {
      "chat_template": model.template.template, "chat_template_source": model.template.source,
      "special_tokens": model.special_tokens, "add_bos_token": model.start_token_id is not None,
      "stop_token_ids": list(model.stop_token_ids), "context_length": model.context_length,
      "description": model.description,
      # Llama's and Qwen's get_config leave it out, and their defaults differ (False, True).
      "tie_word_embeddings": getattr(model.backbone, "tie_word_embeddings", None)})


def restore(config: ModelConfig, directory: str) -> CausalLanguageModel:
  """The saved architecture and tokenizer with fresh weights (a checkpoint restores them)."""
  record = read_json(os.path.join(directory, _RECORD))
  serialized = read_json(os.path.join(directory, _BACKBONE))
  if record.get("tie_word_embeddings") is not None:
    serialized["config"]["tie_word_embeddings"] = record["tie_word_embeddings"]
  backbone = keras.saving.deserialize_keras_object(serialized)
  llama3 = os.path.join(directory, _LLAMA3_TOKENIZER)
  if os.path.isfile(llama3):
    saved = read_json(llama3)
    tokenizer = special_tokens.llama3_tokenizer(saved["vocabulary"], saved["merges"],
                                                saved["bos_token"], saved["eos_token"],
                                                saved["keep_whole"])
  else:
    tokenizer = keras.saving.deserialize_keras_object(read_json(os.path.join(directory, _TOKENIZER)))
    tokenizer.load_assets(directory)
  # Training builds the tokenizer by calling it; an export from the model_dir may not, and
  # ExportArchive.track refuses an unbuilt layer.
  tokenizer.build(None)
  template = chat_template.ChatTemplate(record["chat_template"], record["chat_template_source"],
                                        record["special_tokens"])
  return _model(backbone, tokenizer, template, record["special_tokens"], record["add_bos_token"],
                tuple(record["stop_token_ids"]), record["context_length"], config,
                f"model_dir causal LM {directory} ({record['description']})")


def _resolve_template(flag, parts) -> chat_template.ChatTemplate:
  try:
    return chat_template.resolve(flag, checkpoint_dir=parts.template_dir,
                                 gguf_template=parts.gguf_template,
                                 special_tokens=parts.special_tokens)
  except chat_template.NoChatTemplate:
    logging.warning("The checkpoint has no chat template: instructions are formatted with the "
                    "built-in '%s' template (--chat_template chooses another).", FALLBACK_TEMPLATE)
    return chat_template.resolve(FALLBACK_TEMPLATE, special_tokens=parts.special_tokens)


def _model(backbone, tokenizer, template, tokens, add_bos_token, stop_token_ids, context_length,
           config: ModelConfig, description) -> CausalLanguageModel:
  positions = getattr(backbone, "max_sequence_length", None) or context_length
  if config.max_seq_length is None:  # generation only (tfsft.generate): as much as fits
    config = dataclasses.replace(config, max_seq_length=min(positions or _PROMPT_TOKENS,
                                                            _PROMPT_TOKENS))
  if positions and config.max_seq_length > positions:
    raise UserError(f"--max_seq_length={config.max_seq_length} is longer than the "
                    f"{positions} positions this model has: lower --max_seq_length")
  task_class = causal_lm_checkpoints.causal_lm_class(backbone)
  end_token_id = _id_of(tokenizer, tokens.get("eos_token")) or tokenizer.end_token_id
  start_token_id = _id_of(tokenizer, tokens.get("bos_token")) if add_bos_token else None
  if add_bos_token and start_token_id is None:
    start_token_id = getattr(tokenizer, "start_token_id", None)
  pad_token_id = _id_of(tokenizer, tokens.get("pad_token"))
  pad_token_id = end_token_id if pad_token_id is None else pad_token_id
  stop_token_ids = tuple(stop_token_ids) or (end_token_id,)
  return CausalLanguageModel(
      causal_lm=task_class(backbone=backbone, preprocessor=None), tokenizer=tokenizer,
      template=template, special_tokens=dict(tokens), start_token_id=start_token_id,
      end_token_id=end_token_id, stop_token_ids=stop_token_ids, pad_token_id=pad_token_id,
      context_length=positions, description=description,
      decoding=decoding_settings(config, stop_token_ids, pad_token_id),
      max_prompt_tokens=config.max_seq_length)


def decoding_settings(config: ModelConfig, stop_token_ids, pad_token_id) -> DecodingSettings:
  """The decoding flags (ModelConfig.DECODING) as DecodingSettings; temperature 0 is greedy."""
  sampling = config.temperature > 0
  if not sampling and (config.top_k or config.top_p < 1):
    raise UserError("--top_k and --top_p shape sampling: set --temperature above 0 too (0 is "
                    "greedy decoding)")
  return DecodingSettings(
      max_new_tokens=config.max_new_tokens, do_sample=sampling,
      temperature=config.temperature if sampling else 1.0, top_k=config.top_k,
      top_p=config.top_p, stop_token_ids=stop_token_ids, pad_token_id=pad_token_id)


def _id_of(tokenizer, token: Optional[str]) -> Optional[int]:
  if token is None:
    return None
  try:
    return int(tokenizer.token_to_id(token))
  except (KeyError, ValueError):
    return None


def write_hugging_face(model: CausalLanguageModel, directory: str) -> str:
  """The model (weights, tokenizer, special tokens, chat template) as a Hugging Face directory."""
  from tfsft.models.hugging_face_export import write_hugging_face_directory
  return write_hugging_face_directory(
      model.backbone, model.tokenizer, directory, chat_template=model.template.template,
      special_tokens=model.special_tokens, add_bos_token=model.start_token_id is not None)


FAMILY = ModelFamily(build=build, save=save, restore=restore, default_learning_rate=2e-5,
                     kind="causal_lm", check_flags=check_flags,
                     transformer=lambda model: model.causal_lm.backbone, peft_learning_rate=1e-3,
                     # QLoRA (Dettmers et al., 2023): matching full fine-tuning of a chat model
                     # takes LoRA on every projection, not only query and value.
                     lora_targets=("query", "key", "value", "attention_output",
                                   "feedforward_gate", "feedforward_up", "feedforward_down"))
