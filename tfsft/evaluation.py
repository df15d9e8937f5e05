"""Scoring a model on its evaluation splits, into the log, TensorBoard and eval_results.json."""

import json

import keras
import numpy as np
import tensorflow as tf
from absl import logging



class Evaluator:
  """Holds the evaluation splits, tokenized once and cached; `evaluate` scores a model on them."""

  def __init__(self, task, encoder, label_names, splits: dict, counts: dict, config,
               writers: dict):
    self._task = task
    self._encoder = encoder
    self._label_names = label_names
    self._writers = writers
    self._splits = {name: task.evaluation_split(encoder, examples, counts[name], config)
                    for name, examples in splits.items() if examples is not None}

  def evaluate(self, model: keras.Model, step: int, split_names=None) -> dict:
    results = {}
    for name in split_names or self._splits:
      results[name] = self._task.evaluate(model, self._encoder, self._splits[name],
                                          self._label_names)
      self._summarise(name, results[name], step)
      scalars = {k: round(v, 4) for k, v in results[name].items() if isinstance(v, float)}
      logging.info("Step %d %s: %s", step, name, json.dumps(scalars))
    return results

  def _summarise(self, split, results, step):
    writer = self._writers.get(split)
    if writer is None:
      return
    with writer.as_default(step=step):
      for name, value in results.items():
        if isinstance(value, float):
          tf.summary.scalar(f"eval/{name}", value)
      for tag, text in self._task.text_summaries(results, self._label_names).items():
        tf.summary.text(tag, text)
    writer.flush()


class PeriodicEvaluation(keras.callbacks.Callback):
  """At each Keras "epoch" end (one loop of steps): checkpoint, and evaluate on validation when the
  loop crossed a multiple of --eval_every_steps."""

  def __init__(self, evaluator: Evaluator, manager: tf.train.CheckpointManager, plan,
               step_variable):
    super().__init__()
    self._evaluator = evaluator
    self._manager = manager
    self._plan = plan
    self._step = step_variable

  def on_epoch_end(self, epoch, logs=None):
    step = int(self._step.numpy())
    self._manager.save(checkpoint_number=step)
    crossed = step // self._plan.eval_every > (step - self._plan.steps_per_loop) // self._plan.eval_every
    # The last step's evaluation (validation and test) happens after fit.
    if crossed and step < self._plan.total_steps:
      self._evaluator.evaluate(self.model, step, ["validation"])


class TrainingSummaries(keras.callbacks.Callback):
  """Train loss and learning rate in TensorBoard, indexed by the global step so resumed runs
  continue the same curves."""

  def __init__(self, writer, every_steps: int, optimizer):
    super().__init__()
    self._writer = writer
    self._every = every_steps
    self._optimizer = optimizer
    self._last_step = None

  def on_train_begin(self, logs=None):
    self._last_step = int(self._optimizer.iterations.numpy())

  def on_train_batch_end(self, batch, logs=None):
    # One call per execution of --steps_per_execution steps: log when it crossed a multiple.
    step, last = int(self._optimizer.iterations.numpy()), self._last_step
    self._last_step = step
    if self._writer is None or step // self._every == last // self._every or not logs:
      return
    with self._writer.as_default(step=step):
      tf.summary.scalar("train/loss", logs["loss"])
      tf.summary.scalar("train/learning_rate", float(np.asarray(self._optimizer.learning_rate)))
      for name, value in logs.items():
        if name != "loss":
          tf.summary.scalar(f"train/{name}", value)


class StopAtStep(keras.callbacks.Callback):
  """Ends training at the planned step even when it falls inside a Keras "epoch"."""

  def __init__(self, total_steps: int, step_variable):
    super().__init__()
    self._total = total_steps
    self._step = step_variable

  def on_train_batch_end(self, batch, logs=None):
    if int(self._step.numpy()) >= self._total:
      self.model.stop_training = True
