"""BERT from keras-hub: a backbone and its WordPiece preprocessor from a preset or a local checkpoint.

--init_checkpoint accepts
  * a keras-hub preset name (e.g. bert_base_en_uncased; downloaded from Kaggle, so online only),
  * a Hugging Face Hub id, hf://<org>/<name> (e.g. hf://google-bert/bert-base-uncased; downloaded
    into the Hugging Face cache), and other keras-hub handles (kaggle://..., gs://...),
  * a local keras-hub preset directory (config.json names BertBackbone),
  * a local Hugging Face BERT directory (config.json with model_type "bert", model.safetensors,
    vocab.txt, tokenizer_config.json), e.g. sentence-transformers/all-MiniLM-L6-v2.
Lower-casing comes from the checkpoint's own tokenizer config (keras-hub reads `do_lower_case`).
"""

import os
from typing import Optional

import keras
import keras_hub
from absl import logging

from tfsft import downloads
from tfsft.config import ModelConfig
from tfsft.errors import UserError
from tfsft.models import fused_layers
from tfsft.models.encoder import ModelFamily, TextEncoder, read_json, write_json

DEFAULT_PRESET = "bert_base_en_uncased"
HUGGING_FACE_HUB = "hf://"
_LOCAL_ALTERNATIVE = "pass --init_checkpoint=<local keras-hub preset or Hugging Face BERT directory>"
FEATURES = ("token_ids", "padding_mask", "segment_ids")


def build(config: ModelConfig, train_examples=None) -> TextEncoder:
  del train_examples  # the vocabulary comes with the checkpoint
  checkpoint = config.init_checkpoint or DEFAULT_PRESET
  description = _describe_checkpoint(checkpoint)
  logging.info("Initialising BERT from %s.", description)
  try:
    backbone = keras_hub.models.BertBackbone.from_preset(checkpoint)
    tokenizer = keras_hub.models.BertTokenizer.from_preset(checkpoint,
                                                           **_hugging_face_accents(checkpoint))
  except (OSError, ValueError, KeyError, ImportError) as error:
    # OSError includes requests' ConnectionError: a preset name downloads from Kaggle here.
    raise downloads.failure(f"BERT from {description}", error, _LOCAL_ALTERNATIVE) from None
  return _encoder(backbone, tokenizer, config.max_seq_length, description)


def save(encoder: TextEncoder, directory: str):
  tokenizer = encoder.preprocessor.tokenizer
  write_json(os.path.join(directory, "backbone.json"),
             keras.saving.serialize_keras_object(encoder.backbone))
  write_json(os.path.join(directory, "tokenizer.json"), keras.saving.serialize_keras_object(tokenizer))
  tokenizer.save_assets(directory)  # the WordPiece vocabulary


def restore(config: ModelConfig, directory: str) -> TextEncoder:
  backbone = keras.saving.deserialize_keras_object(read_json(os.path.join(directory, "backbone.json")))
  tokenizer = keras.saving.deserialize_keras_object(read_json(os.path.join(directory, "tokenizer.json")))
  tokenizer.load_assets(directory)
  return _encoder(backbone, tokenizer, config.max_seq_length, f"model_dir encoder {directory}")


def _encoder(backbone, tokenizer, sequence_length, description):
  if sequence_length > backbone.max_sequence_length:
    raise UserError(f"--max_seq_length={sequence_length} is longer than this BERT's "
                    f"{backbone.max_sequence_length} positions: lower --max_seq_length")
  fused_layers.fuse(backbone)  # the same model, in graph forms the CPU kernels fuse
  # Built explicitly: from_preset(sequence_length=...) on the task class silently keeps 512.
  preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
      tokenizer=tokenizer, sequence_length=sequence_length)
  # The preprocessor packs a (text, text_pair) tuple as [CLS] a [SEP] b [SEP] with segment ids.
  return TextEncoder(preprocessor=preprocessor, backbone=backbone, feature_names=FEATURES,
                     description=description, takes_pairs=True)


def _hugging_face_accents(checkpoint: str) -> dict:
  """Accent stripping as the checkpoint was trained with, for local Hugging Face directories.

  Hugging Face's BertTokenizer strips accents whenever it lower-cases unless tokenizer_config.json
  sets `strip_accents` (null means "follow do_lower_case"); keras-hub reads only do_lower_case
  and keeps accents, so an uncased vocabulary (which has "jose", not "josé") turns "José",
  "café" and "naïve" into [UNK]. The option is saved with the tokenizer, so exports keep it.
  """
  path = _hugging_face_file(checkpoint, "tokenizer_config.json")
  if path is None:  # a keras-hub preset carries its own tokenizer config
    return {}
  settings = read_json(path)
  strip = settings.get("strip_accents")
  return {"strip_accents": bool(settings.get("do_lower_case", False) if strip is None else strip)}


def _describe_checkpoint(checkpoint: str) -> str:
  """Names the source and rejects what is not BERT before keras-hub gives a less direct error."""
  if checkpoint.startswith(HUGGING_FACE_HUB):
    _check_hugging_face_bert(checkpoint, read_json(_hugging_face_file(checkpoint, "config.json")))
    return f"Hugging Face Hub model {checkpoint} (downloaded or read from the Hugging Face cache)"
  if "://" in checkpoint:
    return f"remote preset {checkpoint}"
  if not os.path.exists(checkpoint):
    if checkpoint in keras_hub.models.BertBackbone.presets:
      return f"keras-hub preset '{checkpoint}' (downloaded or read from the keras-hub cache)"
    raise UserError(
        f"--init_checkpoint={checkpoint} is neither a local directory nor a keras-hub BERT preset; "
        f"known presets: {', '.join(sorted(keras_hub.models.BertBackbone.presets))}")
  config_path = os.path.join(checkpoint, "config.json")
  if not os.path.isfile(config_path):
    raise UserError(f"--init_checkpoint={checkpoint} has no config.json: pass a keras-hub preset "
                    "directory or a Hugging Face BERT directory")
  config = read_json(config_path)
  if "model_type" in config:  # Hugging Face layout
    _check_hugging_face_bert(checkpoint, config)
    return f"local Hugging Face directory {checkpoint}"
  if "BertBackbone" not in str(config.get("registered_name", config.get("class_name", ""))):
    raise UserError(f"--init_checkpoint={checkpoint} is a keras-hub preset of "
                    f"{config.get('class_name', 'an unknown class')}, not BertBackbone: pass a BERT preset")
  return f"local keras-hub preset {checkpoint}"


def _check_hugging_face_bert(checkpoint: str, config: dict):
  if config.get("model_type") != "bert":
    raise UserError(f"--init_checkpoint={checkpoint} is a Hugging Face '{config.get('model_type')}' "
                    "model, not BERT: pass a BERT checkpoint")
  missing = [name for name in ("vocab.txt", "tokenizer_config.json")
             if _hugging_face_file(checkpoint, name) is None]
  if missing:
    raise UserError(f"--init_checkpoint={checkpoint} lacks {', '.join(missing)}: copy the "
                    "tokenizer files of the checkpoint into that directory")


def _hugging_face_file(checkpoint: str, name: str) -> Optional[str]:
  """The local path of one file of a Hugging Face checkpoint (a directory, or an hf:// id whose
  file is downloaded into the Hugging Face cache), or None when the checkpoint has no such file."""
  if not checkpoint.startswith(HUGGING_FACE_HUB):
    path = os.path.join(checkpoint, name)
    return path if os.path.isfile(path) else None
  import huggingface_hub  # keras-hub's own route to hf:// presets
  from huggingface_hub.errors import RemoteEntryNotFoundError
  try:
    return huggingface_hub.hf_hub_download(repo_id=checkpoint[len(HUGGING_FACE_HUB):],
                                           filename=name)
  except RemoteEntryNotFoundError:  # the Hub answered: no such file
    return None
  except Exception as error:  # keras-hub would report any of these as "has no config.json"
    raise downloads.failure(f"{name} of {checkpoint}", error, _LOCAL_ALTERNATIVE) from None


def check_flags(config: ModelConfig):
  if config.pretrained_embeddings or config.pretrained_target_embeddings:
    raise UserError("--pretrained_embeddings is for the LSTM models; BERT brings its own embeddings")


FAMILY = ModelFamily(build=build, save=save, restore=restore, default_learning_rate=5e-5,
                     check_flags=check_flags, word_pieces=True,
                     transformer=lambda encoder: encoder.backbone, peft_learning_rate=2e-3,
                     bfloat16_by_default=True)
