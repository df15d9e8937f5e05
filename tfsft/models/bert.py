"""BERT from keras-hub: a backbone and its WordPiece preprocessor from a preset or a local checkpoint.

--init_checkpoint accepts
  * a keras-hub preset name (e.g. bert_base_en_uncased; downloaded, so online only),
  * a local keras-hub preset directory (config.json names BertBackbone),
  * a local Hugging Face BERT directory (config.json with model_type "bert", model.safetensors,
    vocab.txt, tokenizer_config.json), e.g. sentence-transformers/all-MiniLM-L6-v2.
Lower-casing comes from the checkpoint's own tokenizer config (keras-hub reads `do_lower_case`).
"""

import os

import keras
import keras_hub
from absl import logging

from tfsft.config import ModelConfig
from tfsft.errors import UserError
from tfsft.models.encoder import ModelFamily, TextEncoder, read_json, write_json

DEFAULT_PRESET = "bert_base_en_uncased"
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
  except (OSError, ValueError, KeyError) as error:
    raise UserError(f"could not load BERT from {description}: {str(error).splitlines()[0]}; "
                    "pass --init_checkpoint=<local keras-hub preset or Hugging Face BERT directory>"
                    ) from None
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
  path = os.path.join(checkpoint, "tokenizer_config.json")
  if not os.path.isfile(path):  # a keras-hub preset carries its own tokenizer config
    return {}
  settings = read_json(path)
  strip = settings.get("strip_accents")
  return {"strip_accents": bool(settings.get("do_lower_case", False) if strip is None else strip)}


def _describe_checkpoint(checkpoint: str) -> str:
  """Names the source and rejects what is not BERT before keras-hub gives a less direct error."""
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
    if config["model_type"] != "bert":
      raise UserError(f"--init_checkpoint={checkpoint} is a Hugging Face '{config['model_type']}' "
                      "model, not BERT: pass a BERT checkpoint")
    missing = [f for f in ("vocab.txt", "tokenizer_config.json") if
               not os.path.isfile(os.path.join(checkpoint, f))]
    if missing:
      raise UserError(f"--init_checkpoint={checkpoint} lacks {', '.join(missing)}: copy the "
                      "tokenizer files of the checkpoint into that directory")
    return f"local Hugging Face directory {checkpoint}"
  if "BertBackbone" not in str(config.get("registered_name", config.get("class_name", ""))):
    raise UserError(f"--init_checkpoint={checkpoint} is a keras-hub preset of "
                    f"{config.get('class_name', 'an unknown class')}, not BertBackbone: pass a BERT preset")
  return f"local keras-hub preset {checkpoint}"


FAMILY = ModelFamily(build=build, save=save, restore=restore, default_learning_rate=5e-5,
                     word_pieces=True)
