"""Trained model -> a versioned SavedModel for TF Serving, with warmup requests."""

import os

from absl import logging

from tfsft.config import ModelConfig, TrainConfig
from tfsft.serving import signatures, versioning, warmup


def export_root(config: TrainConfig) -> str:
  """The TF Serving model base path: --export_dir, or saved_models/<task>."""
  return config.runtime.export_dir or os.path.join("saved_models", config.task)


def export_record(model_dir: str, checkpoint: str, model_config: ModelConfig) -> dict:
  """What identifies an export: the checkpoint and the settings that change the exported graph."""
  return {"model_dir": os.path.abspath(model_dir), "checkpoint": os.path.basename(checkpoint),
          "decoding": {name: getattr(model_config, name) for name in ModelConfig.DECODING}}


def export_for_serving(model, encoder, task, label_names, export_root: str, warmup_inputs,
                       record: dict) -> str:
  """Writes <export_root>/<next version>/ atomically and returns its path; when the newest version
  already holds this `record` (see export_record), returns that version instead."""
  existing = versioning.newest_version_with(export_root, record)
  if existing:
    logging.info("Not exported again: %s already holds %s with these settings.", existing,
                 record["checkpoint"])
    return existing
  archive = signatures.build_archive(model, encoder, task, label_names)
  model_name = os.path.basename(os.path.normpath(export_root))

  def write_into(staging_dir):
    archive.write_out(staging_dir, verbose=False)
    warmup.write_warmup_requests(staging_dir, model_name, warmup_inputs)

  path = versioning.publish(export_root, write_into, record)
  logging.info("Exported SavedModel for TF Serving to %s.", path)
  return path
