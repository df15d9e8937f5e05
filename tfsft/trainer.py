"""One fine-tuning run: data -> strategy scope -> build -> compile -> fit -> evaluate -> export.

Resumption: if --model_dir holds a checkpoint, model, optimizer and step come from it and
--init_checkpoint is ignored; otherwise the model family initialises from --init_checkpoint. Either
way the log says which. Keras "epochs" here are loops of `steps_per_loop` steps, each ending in a
checkpoint, so a resumed run restarts exactly where its last checkpoint left off.
"""

import contextlib
import dataclasses
import math
import os
import time

import keras
import tensorflow as tf
from absl import logging

import tfsft
from tfsft import distribute, evaluation, precision, run_costs, run_lock
from tfsft.config import DEFAULT_EPOCHS, TrainConfig, check_ranges
from tfsft.data import pipeline, splits
from tfsft.data.text_checks import user_errors_from_data
from tfsft.errors import UserError
from tfsft.model_dir import ModelDir, checkpoint_bytes, restore_checkpoint, write_json_atomically
from tfsft.models import MODELS
from tfsft.optimization import make_optimizer
from tfsft.output_locations import check_writable_directory
from tfsft.peft import checkpoints as peft_checkpoints
from tfsft.peft import injection
from tfsft.serving.export import export_for_serving, export_record, export_root
from tfsft.tasks import TASKS

@dataclasses.dataclass(frozen=True)
class StepPlan:
  total_steps: int
  steps_per_loop: int  # one Keras "epoch"; a checkpoint at the end of each
  eval_every: int  # validation at the first loop end on or past each multiple


def plan_steps(config: TrainConfig, steps_per_pass: int) -> StepPlan:
  """Steps from the batches one pass over the training data really gives (the task's
  `training_batches`: packing and length grouping change how many there are)."""
  runtime = config.runtime
  if runtime.train_steps is not None:
    total = runtime.train_steps
  else:
    epochs = DEFAULT_EPOCHS if runtime.num_epochs is None else runtime.num_epochs
    total = math.ceil(epochs * steps_per_pass)
  eval_every = min(steps_per_pass if runtime.eval_every_steps is None else runtime.eval_every_steps,
                   total)
  # One call into the step function runs steps_per_execution steps, so loops (checkpoints) and the
  # last step are rounded up to its multiples; evaluations come at the first loop end on or past
  # each multiple of eval_every, as before.
  per_call = runtime.steps_per_execution
  return StepPlan(_multiple_of(per_call, total),
                  _multiple_of(per_call, min(runtime.checkpoint_every_steps, eval_every)),
                  eval_every)


def _multiple_of(factor: int, steps: int) -> int:
  """`steps` rounded up to a multiple of `factor`."""
  return -(-steps // factor) * factor


def with_task_defaults(config: TrainConfig) -> TrainConfig:
  """Fills the settings left unset that the task, model family or hardware decides (--model,
  --max_seq_length, --group_by_length, --pad_to_multiple, --mixed_precision=auto), so the run
  records, compares on resume, and exports concrete values."""
  task = TASKS.get(config.task)(config.data)
  model, data, runtime = config.model, config.data, config.runtime
  model = dataclasses.replace(
      model,
      model=task.default_model if model.model is None else model.model,
      max_seq_length=(task.default_max_seq_length if model.max_seq_length is None
                      else model.max_seq_length))
  data = dataclasses.replace(
      data, group_by_length=task.group_by_length,
      pad_to_multiple=(pipeline.default_pad_to_multiple(runtime.tpu)
                       if data.pad_to_multiple is None else data.pad_to_multiple))
  runtime = dataclasses.replace(runtime, mixed_precision=precision.resolve(
      runtime.mixed_precision, MODELS.get(model.model).bfloat16_by_default, config.peft.enabled,
      runtime.tpu))
  return dataclasses.replace(config, model=model, data=data, runtime=runtime)


def check_flags(config: TrainConfig):
  """Flag values and combinations that cannot work, refused before anything is read or written.
  `config` has its task defaults filled in (`with_task_defaults`)."""
  out_of_range = check_ranges(config)
  if out_of_range:
    raise UserError(out_of_range)
  runtime, model = config.runtime, config.model
  task, family = TASKS.get(config.task)(config.data), MODELS.get(model.model)
  if family.kind != task.model_kind:
    fitting = [name for name in MODELS.names() if MODELS.get(name).kind == task.model_kind]
    raise UserError(f"--task={config.task} cannot use --model={model.model}: choose "
                    f"--model={' or --model='.join(fitting)}")
  if task.needs_word_pieces and not family.word_pieces:
    fitting = [name for name in MODELS.names() if MODELS.get(name).word_pieces]
    raise UserError(f"--task={config.task} labels words and needs a WordPiece model: choose "
                    f"--model={' or --model='.join(fitting)}")
  task.check_flags(config)
  if runtime.train_steps is not None and runtime.num_epochs is not None:
    raise UserError("--train_steps and --num_epochs both set: keep one")
  family.check_flags(model)
  _check_peft_flags(config.peft, family, model.model)
  if runtime.mixed_precision not in precision.CHOICES:
    raise UserError(f"unknown --mixed_precision={runtime.mixed_precision}: choose from "
                    f"{', '.join(precision.CHOICES)}")
  if config.data.validation_fraction + config.data.test_fraction >= 1:
    raise UserError("--validation_fraction + --test_fraction must leave data for training")


def _check_peft_flags(peft, family, model_name: str):
  if peft.peft not in peft.METHODS:
    raise UserError(f"unknown --peft={peft.peft}: choose from {', '.join(peft.METHODS)}")
  if peft.base_dtype not in peft.BASE_DTYPES:
    raise UserError(f"unknown --base_dtype={peft.base_dtype}: choose from "
                    f"{', '.join(peft.BASE_DTYPES)}")
  if not peft.enabled:
    if peft.base_dtype != "float32":
      raise UserError("--base_dtype is for --peft runs (their frozen base); full fine-tuning "
                      "trains every weight: use --mixed_precision=mixed_bfloat16 instead")
    return
  if family.transformer is None:
    transformers = [name for name in MODELS.names() if MODELS.get(name).transformer]
    raise UserError(f"--peft={peft.peft} wraps transformer layers; --model={model_name} has none: "
                    f"use --model={' or --model='.join(transformers)}, or leave --peft out")
  if peft.peft == "adapter" and peft.lora_targets:
    raise UserError("--lora_targets is for --peft=lora; adapters go after the attention and "
                    "feed-forward blocks: leave --lora_targets out")
  injection.lora_targets(peft)  # unknown names fail here, before anything is read


def run(config: TrainConfig, extra_callbacks=()) -> dict:
  """Trains, evaluates and (unless --noexport) exports; returns the final evaluation results.

  `extra_callbacks` are added to `fit` (benchmarks time steps with one). Every check that can fail
  on user input runs before the first write to --model_dir.
  """
  config = with_task_defaults(config)
  check_flags(config)
  check_output_locations(config)
  strategy = _configure_runtime(config.runtime)
  model_dir = ModelDir(config.runtime.model_dir)
  # The chief alone writes into model_dir (other workers keep temporary files), so it alone
  # holds the run lock.
  with (run_lock.exclusive_run(model_dir.path) if distribute.is_chief(strategy)
        else contextlib.nullcontext()):
    resume_from = model_dir.latest_checkpoint()
    if resume_from:
      config = _check_same_model(model_dir, config)
    with precision.global_dtype_policy(precision.keras_policy(config.runtime.mixed_precision)):
      return _train_evaluate_export(config, strategy, model_dir, resume_from, extra_callbacks)


def check_output_locations(config: TrainConfig):
  """Every folder the run will write must be writable before the first training step."""
  check_writable_directory(config.runtime.model_dir, "--model_dir")
  if config.runtime.export:
    check_writable_directory(export_root(config), "--export_dir")


def _train_evaluate_export(config: TrainConfig, strategy, model_dir: ModelDir, resume_from,
                           extra_callbacks) -> dict:
  """`resume_from`: the checkpoint to resume from, or None to start from --init_checkpoint."""
  task = TASKS.get(config.task)(config.data)
  family = MODELS.get(config.model.model)
  data, counts = _read_data(task, config)
  warmup_inputs = task.warmup_inputs(data.validation)

  with strategy.scope():
    if resume_from and not config.peft.enabled:
      encoder = family.restore(config.model, model_dir.encoder_dir)
      injected = fingerprint = None
    else:  # a PEFT checkpoint holds no base weights: they come from --init_checkpoint again
      encoder, injected, fingerprint = peft_checkpoints.build_wrapped(family, config, data.train)
    train_batches = task.training_batches(encoder, data.train, counts["train"], config)
    plan = plan_steps(config, train_batches.steps_per_pass)
    logging.info("Plan: %s; %d row(s) per replica per step%s.", plan,
                 config.runtime.batch_size // strategy.num_replicas_in_sync,
                 "" if train_batches.fill is None else
                 f", {100 * train_batches.fill:.1f}% of the positions real tokens")
    model = task.build_model(encoder, config.model, data.label_names)
    model.compile(
        optimizer=make_optimizer(config.optimizer, _learning_rate(config, family), plan.total_steps),
        loss=task.loss(), metrics=task.training_metrics(),
        steps_per_execution=config.runtime.steps_per_execution)
    # Keras' "auto" turns XLA on where a GPU or TPU is and off on CPUs; there batches come in at
    # most --max_seq_length / --pad_to_multiple widths (8 by default), so XLA compiles a bounded
    # number of shapes.
    logging.info("XLA (jit_compile): %s; steps per execution: %d; dtype policy: %s; batch widths "
                 "rounded up to a multiple of %d; %s=%s.",
                 model.jit_compile, model.steps_per_execution,
                 keras.mixed_precision.dtype_policy().name, task.pad_to_multiple,
                 tfsft.CPU_ALLOCATOR_SETTING, os.environ.get(tfsft.CPU_ALLOCATOR_SETTING))
    optimizer = model.optimizer  # under mixed_float16, the loss-scaling wrapper
    optimizer.build(model.trainable_variables)
    checkpoint = peft_checkpoints.training_checkpoint(model, optimizer, injected)
  parameters = injection.parameter_counts(model)
  logging.info("Parameters: %d trainable of %d (%.2f%%).", parameters["trainable_parameters"],
               parameters["total_parameters"],
               100 * parameters["trainable_parameters"] / parameters["total_parameters"])

  chief = distribute.is_chief(strategy)
  # Every worker takes part in each save; only the chief's checkpoints are kept, in model_dir, and
  # every worker resumes from them.
  if chief:
    manager = tf.train.CheckpointManager(checkpoint, model_dir.checkpoint_dir, max_to_keep=3)
  else:
    manager = distribute.ScratchCheckpointManager(checkpoint, os.path.join(
        model_dir.path, f"worker_tmp_{strategy.cluster_resolver.task_id}"))
  if resume_from:
    if injected:
      peft_checkpoints.check_base(model_dir.path, encoder.description, fingerprint)
    restore_checkpoint(checkpoint, resume_from)
    logging.info("Resuming from %s at step %d%s.", resume_from, int(optimizer.iterations.numpy()),
                 "" if injected else " (--init_checkpoint is not used)")
  else:
    logging.info("No checkpoint in %s: starting from %s.", model_dir.path, encoder.description)
    if chief:
      model_dir.write_run(config, data.label_names, warmup_inputs)
      family.save(encoder, model_dir.encoder_dir)
      if injected:
        peft_checkpoints.write_record(model_dir.path, config.peft, encoder.description,
                                      fingerprint, parameters)

  writers = _summary_writers(model_dir, config, chief, data.evaluation_splits())
  evaluator = evaluation.Evaluator(
      task, encoder, data.label_names, data.evaluation_splits(), counts, config, writers)
  clock = run_costs.StepClock()
  with distribute.lost_worker_as_user_error(strategy, model_dir.checkpoint_dir):
    _fit(model, train_batches, plan, config.runtime, manager, evaluator,
         [evaluation.TrainingSummaries(writers["train"], config.runtime.log_every_steps, optimizer),
          clock, *extra_callbacks])
    step = int(optimizer.iterations.numpy())
    if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{step}"):
      manager.save(checkpoint_number=step)
    evaluation_start = time.perf_counter()
    results = evaluator.evaluate(model, step)
    evaluation_seconds = time.perf_counter() - evaluation_start
  checkpoint_size = checkpoint_bytes(manager.latest_checkpoint)
  logging.info("Checkpoint %s: %.1f MB.", manager.latest_checkpoint, checkpoint_size / 1e6)
  results.update(step=step, data_source=data.source, examples=counts,
                 checkpoint_bytes=checkpoint_size, **parameters,
                 **run_costs.training_costs(clock, config.runtime.batch_size, train_batches),
                 final_evaluation_seconds=round(evaluation_seconds, 2))
  if chief:
    write_json_atomically(model_dir.eval_results_file, results)
    if config.runtime.export:
      if injected and injection.merge(injected):
        logging.info("LoRA updates merged into their kernels for serving.")
      results["export_path"] = export_for_serving(
          model, encoder, task, data.label_names, export_root(config), warmup_inputs,
          export_record(model_dir.path, manager.latest_checkpoint, config.model))
  return results


def _learning_rate(config: TrainConfig, family) -> float:
  if config.optimizer.learning_rate is not None:
    return config.optimizer.learning_rate
  return family.peft_learning_rate if config.peft.enabled else family.default_learning_rate


def _configure_runtime(runtime) -> tf.distribute.Strategy:
  """Strategy and seeds: process-wide settings that must precede model building."""
  strategy = distribute.make_strategy(runtime.strategy, runtime.tpu, runtime.cpu_logical_devices)
  if runtime.batch_size % strategy.num_replicas_in_sync:
    raise UserError(f"--batch_size={runtime.batch_size} (global) does not divide over "
                    f"{strategy.num_replicas_in_sync} replicas: use a multiple of it")
  keras.utils.set_random_seed(runtime.seed)
  return strategy


def _read_data(task, config: TrainConfig):
  """The task's splits and their sizes. Counting reads every example once, so malformed files
  fail here, before anything is written."""
  data = task.load_data(config.data, config.runtime.seed)
  logging.info("Data: %s.", data.source)
  named = {"train": data.train, **data.evaluation_splits()}.items()
  with user_errors_from_data():
    counts = {name: splits.count(dataset) for name, dataset in named if dataset is not None}
  logging.info("Examples: %s.", counts)
  for name, count in counts.items():
    if count == 0 and name != "train":  # too few training examples: training_batches says so
      # Evaluating nothing would fail only after training, inside Keras.
      carved = (f"raise --{name}_fraction (splits are carved by a hash of the text, so small or "
                f"repetitive data can leave one empty), add distinct examples, or "
                if name in ("validation", "test") else "")
      raise UserError(f"the {name} split of {data.source} has no examples: {carved}"
                      f"give it a {name} file")
  return data, counts


def _summary_writers(model_dir: ModelDir, config: TrainConfig, chief: bool,
                     evaluation_splits) -> dict:
  """TensorBoard writers per split (None off the chief), with the run's flags as text."""
  writers = {name: tf.summary.create_file_writer(model_dir.logs(name)) if chief else None
             for name in ("train", *evaluation_splits)}
  if chief:
    with writers["train"].as_default(step=0):
      tf.summary.text("run/flags", f"```\n{config.to_json()}\n```")
  return writers


def _fit(model, train_batches, plan: StepPlan, runtime, manager, evaluator, callbacks):
  """Trains from the optimizer's current step to `plan.total_steps`."""
  step = int(model.optimizer.iterations.numpy())
  if step >= plan.total_steps:
    logging.info("Step %d already reaches the planned %d steps: evaluating only.", step,
                 plan.total_steps)
    return
  # A resumed run does not replay the first batches.
  train_dataset = train_batches.dataset(seed=runtime.seed + step)
  model.fit(
      train_dataset, steps_per_epoch=plan.steps_per_loop,
      epochs=math.ceil(plan.total_steps / plan.steps_per_loop),
      initial_epoch=step // plan.steps_per_loop, shuffle=False,  # shuffled in tf.data
      verbose=2 if os.environ.get("CI") else 1,  # one line per loop in CI logs, a bar on a console
      callbacks=[
          evaluation.StopAtStep(plan.total_steps, model.optimizer.iterations),
          evaluation.PeriodicEvaluation(evaluator, manager, plan, model.optimizer.iterations),
          *callbacks,
      ])


def _check_same_model(model_dir: ModelDir, config: TrainConfig) -> TrainConfig:
  """The resumed run's config: the same model as the checkpoint's, in its precision, and (PEFT)
  the same base."""
  previous, _, _ = model_dir.read_run()
  # Initial-weight sources may differ: a resumed run ignores them, except a PEFT run's base.
  if (previous.task != config.task or previous.model.architecture() != config.model.architecture()
      or previous.peft != config.peft):
    raise UserError(
        f"--model_dir={model_dir.path} holds a checkpoint of a different run (task={previous.task}, "
        f"model={previous.model.model}, peft={previous.peft.peft}, other model flags in "
        f"{model_dir.run_file}); rerun with the same flags or use a new --model_dir")
  if previous.runtime.mixed_precision != config.runtime.mixed_precision:
    # The saved backbone config carries the checkpoint's dtype policy: keep the whole model in it.
    logging.info("Resuming in the checkpoint's precision, --mixed_precision=%s (not %s).",
                 previous.runtime.mixed_precision, config.runtime.mixed_precision)
    config = dataclasses.replace(config, runtime=dataclasses.replace(
        config.runtime, mixed_precision=previous.runtime.mixed_precision))
  if not config.peft.enabled:
    return config
  return dataclasses.replace(config, model=dataclasses.replace(
      config.model, init_checkpoint=previous.model.init_checkpoint))
