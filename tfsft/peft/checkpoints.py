"""What a parameter-efficient run keeps in --model_dir, and how it is put back together.

A PEFT checkpoint holds only what training changes: the adapters' (or LoRA updates') weights,
the task head, the optimizer's slots for them and the step. The frozen base weights come from the
run's --init_checkpoint every time (resume, export, predict), and `peft.json` records that
reference with a fingerprint of the base weights, so a base file that changed since the run began
is refused instead of silently combined with adapters trained on another model.
"""

import hashlib
import json
import os
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfsft.config import PeftConfig
from tfsft.errors import UserError
from tfsft.peft import injection
from tfsft.precision import global_dtype_policy

RECORD = "peft.json"


def build_base(family, config, train_examples=None):
  """The family's encoder from --init_checkpoint (`config` is the TrainConfig), its backbone in
  --base_dtype: Keras builds layers in the global dtype policy, and the checkpoint loaders cast
  the weights they read to it. Layers made afterwards (wrappers, the task head) are in the
  run's --mixed_precision (float32 unless given: precision.resolve)."""
  if config.peft.base_dtype == "float32":
    return family.build(config.model, train_examples)
  with global_dtype_policy(config.peft.base_dtype):
    encoder = family.build(config.model, train_examples)
  backbone = family.transformer(encoder)
  if backbone.dtype_policy.name != config.peft.base_dtype:
    raise UserError(f"--base_dtype={config.peft.base_dtype}: {encoder.description} kept its "
                    f"saved dtype {backbone.dtype_policy.name}; leave --base_dtype out")
  logging.info("Base weights in %s.", config.peft.base_dtype)
  return encoder


def build_wrapped(family, config, train_examples=None):
  """(encoder, injected, fingerprint): the base from --init_checkpoint with the --peft wrappers in
  it, and the fingerprint of its frozen weights; for full fine-tuning (encoder, None, None)."""
  encoder = build_base(family, config, train_examples)
  injected = inject_into(family, encoder, config.peft)
  return encoder, injected, (base_fingerprint(injected, family.transformer(encoder))
                             if injected else None)


def inject_into(family, encoder, config: PeftConfig) -> Optional[injection.Injected]:
  """Wraps the family's transformer backbone as --peft says; None for full fine-tuning."""
  if not config.enabled:
    return None
  injected = injection.inject(family.transformer(encoder), config, family.lora_targets)
  logging.info("--peft=%s: %d projection(s) wrapped (%s); the backbone's other weights are frozen.",
               config.peft, len(injected.wrappers), ", ".join(injected.roles))
  return injected


def training_checkpoint(model: keras.Model, optimizer=None,
                        injected: Optional[injection.Injected] = None) -> tf.train.Checkpoint:
  """Full fine-tuning checkpoints the whole model; PEFT only its trainable weights, by position
  (the model is rebuilt the same way each time, so the order is stable)."""
  parts = {} if optimizer is None else {"optimizer": optimizer}
  if injected is None:
    return tf.train.Checkpoint(model=model, **parts)
  return tf.train.Checkpoint(trained=list(model.trainable_weights), **parts)


def base_fingerprint(injected: injection.Injected, backbone: keras.Model) -> str:
  """sha256 over the frozen base weights (the wrappers' own weights excluded)."""
  own = {id(variable) for _, _, wrapper in injected.wrappers for variable in wrapper.weights}
  digest = hashlib.sha256()
  for variable in backbone.weights:
    if id(variable) not in own:
      digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
  return digest.hexdigest()


def write_record(model_dir: str, config: PeftConfig, base: str, fingerprint: str, counts: dict):
  with open(os.path.join(model_dir, RECORD), "w") as handle:
    json.dump({"peft": config.peft, "base_checkpoint": base, "base_fingerprint": fingerprint,
               **counts}, handle, indent=2)


def check_base(model_dir: str, base: str, fingerprint: str):
  """The base weights loaded now must be the ones the run's adapters were trained on."""
  path = os.path.join(model_dir, RECORD)
  if not os.path.isfile(path):
    raise UserError(f"{path} is missing: it names the base checkpoint this PEFT run's adapters "
                    "belong to; restore it from a copy, or train again in a new --model_dir")
  with open(path) as handle:
    record = json.load(handle)
  if record["base_fingerprint"] != fingerprint:
    raise UserError(f"the base checkpoint {base} holds other weights than when this run's adapters "
                    f"were trained on it ({path}): restore that base, or train again in a new "
                    "--model_dir")
  logging.info("Base weights from %s (fingerprint matches %s); adapters from the checkpoint.",
               base, RECORD)

