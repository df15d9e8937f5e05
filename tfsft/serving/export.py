"""Trained model -> a versioned SavedModel for TF Serving, with warmup requests."""

import os

from absl import logging

from tfsft.serving import signatures, versioning, warmup


def export_for_serving(model, encoder, task, label_names, export_root: str, warmup_inputs) -> str:
  """Writes <export_root>/<next version>/ atomically and returns its path."""
  archive = signatures.build_archive(model, encoder, task, label_names)
  model_name = os.path.basename(os.path.normpath(export_root))

  def write_into(staging_dir):
    archive.write_out(staging_dir, verbose=False)
    warmup.write_warmup_requests(staging_dir, model_name, warmup_inputs)

  path = versioning.publish(export_root, write_into)
  logging.info("Exported SavedModel for TF Serving to %s.", path)
  return path
