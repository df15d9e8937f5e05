"""What a run keeps in --model_dir, and how a trained model is rebuilt from it.

  tfsft_run.json      the run's configuration, label names and a few validation inputs (to resume,
                      and to export with real warmup requests)
  encoder/            the model family's architecture and vocabulary (see models/*.save)
  checkpoints/        tf.train.Checkpoint of model + optimizer (step = optimizer iterations)
  logs/{train,validation,test}/   TensorBoard
  eval_results.json   the latest evaluation
"""

import dataclasses
import json
import os
from typing import NamedTuple

import tensorflow as tf

from tfsft.config import TrainConfig, check_ranges
from tfsft.errors import UserError

RUN_FILE = "tfsft_run.json"


class ModelDir:

  def __init__(self, path: str):
    self.path = path
    self.run_file = os.path.join(path, RUN_FILE)
    self.encoder_dir = os.path.join(path, "encoder")
    self.checkpoint_dir = os.path.join(path, "checkpoints")
    self.eval_results_file = os.path.join(path, "eval_results.json")

  def logs(self, split: str) -> str:
    return os.path.join(self.path, "logs", split)

  def latest_checkpoint(self):
    return tf.train.latest_checkpoint(self.checkpoint_dir)

  def read_run(self):
    if not os.path.isfile(self.run_file):
      raise UserError(f"{self.path} holds no tfsft run ({RUN_FILE} is missing): pass the --model_dir "
                      "of a tfsft.train run")
    fix = "restore it from a copy, or train again in a new --model_dir"
    try:
      with open(self.run_file, encoding="utf-8") as handle:
        record = json.load(handle)
    except ValueError as error:  # truncated, not JSON, or not UTF-8
      raise UserError(f"{self.run_file} is not valid JSON ({error}): {fix}") from None
    try:
      # Runs made before pair inputs kept a plain list of texts.
      warmup_inputs = record.get("warmup_inputs") or {"text": record["warmup_texts"]}
      return TrainConfig.from_dict(record["config"]), record["label_names"], warmup_inputs
    except KeyError as error:
      raise UserError(f"{self.run_file} has no {error} entry: {fix}") from None
    except (TypeError, AttributeError) as error:  # not an object, or fields this tfsft does not know
      raise UserError(f"{self.run_file} is not a tfsft run record ({error}): {fix}") from None

  def write_run(self, config: TrainConfig, label_names, warmup_inputs):
    os.makedirs(self.encoder_dir, exist_ok=True)
    write_json_atomically(self.run_file, {"config": config.to_dict(), "label_names": list(label_names),
                                          "warmup_inputs": dict(warmup_inputs)})


def write_json_atomically(path: str, value):
  """Readers (TensorBoard plugins, a watching script) never see half a file."""
  staging = f"{path}.tmp"
  with open(staging, "w") as handle:
    json.dump(value, handle, indent=2, sort_keys=True)
  os.replace(staging, path)


class TrainedModel(NamedTuple):
  config: TrainConfig
  task: object
  encoder: object
  model: object
  label_names: list
  warmup_inputs: dict  # real validation inputs by name, for the SavedModel's warmup requests
  checkpoint: str
  peft: object = None  # PEFT runs unmerged (merge_peft=False): where the wrappers are


def load_trained_model(path: str, decoding=None, merge_peft: bool = True) -> TrainedModel:
  """Rebuilds a trained model from a model_dir's latest checkpoint. `decoding` overrides the run's
  decoding settings (ModelConfig.DECODING: beam_size, max_new_tokens, ...), each checked against
  its declared range. A PEFT run is its base checkpoint plus the checkpoint's adapters, LoRA
  merged into the kernels unless `merge_peft` is False."""
  from tfsft.models import MODELS  # imported here: keeps `tfsft.model_dir` light for tests
  from tfsft.peft import checkpoints as peft_checkpoints
  from tfsft.peft import injection
  from tfsft.precision import global_dtype_policy, keras_policy
  from tfsft.tasks import TASKS
  model_dir = ModelDir(path)
  config, label_names, warmup_inputs = model_dir.read_run()
  if decoding:
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, **decoding))
    out_of_range = check_ranges(config)
    if out_of_range:
      raise UserError(out_of_range)
    MODELS.get(config.model.model).check_flags(config.model)
  checkpoint_path = model_dir.latest_checkpoint()
  if checkpoint_path is None:
    raise UserError(f"{model_dir.checkpoint_dir} has no checkpoint: train first with tfsft.train")
  task, family = TASKS.get(config.task)(config.data), MODELS.get(config.model.model)
  with global_dtype_policy(keras_policy(config.runtime.mixed_precision)):  # the run's precision
    if config.peft.enabled:
      encoder, injected, fingerprint = peft_checkpoints.build_wrapped(family, config)
      peft_checkpoints.check_base(path, encoder.description, fingerprint)
    else:
      encoder, injected = family.restore(config.model, model_dir.encoder_dir), None
    model = task.build_model(encoder, config.model, label_names)
  # The optimizer's slots are in the checkpoint too; inference does not need them.
  restore_checkpoint(peft_checkpoints.training_checkpoint(model, injected=injected),
                     checkpoint_path, partial=True)
  if injected and merge_peft:
    injection.merge(injected)
  return TrainedModel(config, task, encoder, model, label_names, warmup_inputs, checkpoint_path,
                      None if merge_peft else injected)


def checkpoint_bytes(prefix: str) -> int:
  """The size of one checkpoint (its .index and .data-* files)."""
  return sum(os.path.getsize(path) for path in tf.io.gfile.glob(f"{prefix}.*"))


def restore_checkpoint(checkpoint: tf.train.Checkpoint, path: str, partial: bool = False):
  """Restores the checkpoint at `path` (a prefix such as .../ckpt-4) into `checkpoint`; a damaged
  one is a UserError. `partial`: the file may hold more objects than `checkpoint` tracks."""
  try:
    status = checkpoint.restore(path)
    (status.expect_partial() if partial else status).assert_existing_objects_matched()
  except (tf.errors.OpError, IndexError) as error:  # IndexError: a truncated .data-* file
    reason = (getattr(error, "message", None) or str(error)).strip().splitlines()[0]
    raise UserError(f"checkpoint {path} (its .index and .data-* files) is damaged ({reason}): "
                    "restore those files from a copy, or delete them and name an earlier ckpt-N in "
                    f"{os.path.join(os.path.dirname(path), 'checkpoint')}") from None
