"""What a training run cost, for eval_results.json: time in training steps, examples and real
tokens (padding excluded) per second, the padding fraction, and peak memory."""

import resource
import time

import keras
import tensorflow as tf


class StepClock(keras.callbacks.Callback):
  """Sums the time spent inside training steps (input included, since Keras reads the next batch
  inside the step function), leaving out checkpoints and evaluations between them."""

  def __init__(self):
    super().__init__()
    self.seconds = 0.0
    self.steps = 0
    self._started = None

  def on_train_batch_begin(self, batch, logs=None):
    self._started = time.perf_counter()
    self._first_step = batch

  def on_train_batch_end(self, batch, logs=None):
    # Keras calls these once per execution: `batch` is its first step here, its last at the end.
    self.seconds += time.perf_counter() - self._started
    self.steps += batch - self._first_step + 1


def training_costs(clock: StepClock, batch_size: int, train_batches) -> dict:
  """The cost fields of eval_results.json. Steps of an earlier process (a resumed run) are not
  counted; the token figures come from the fill measured on the training stream."""
  costs = {"train_steps_timed": clock.steps, "train_seconds": round(clock.seconds, 2)}
  if clock.steps and clock.seconds:
    costs["train_examples_per_second"] = round(clock.steps * batch_size / clock.seconds, 2)
    if train_batches.real_tokens_per_batch is not None:
      costs["train_tokens_per_second"] = round(
          clock.steps * train_batches.real_tokens_per_batch / clock.seconds, 1)
  if train_batches.fill is not None:
    costs["padding_fraction"] = round(1 - train_batches.fill, 4)
  costs["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  for device in tf.config.list_logical_devices("GPU"):
    peak = tf.config.experimental.get_memory_info(device.name)["peak"]
    costs[f"peak_memory_mb/{device.name}"] = round(peak / 2**20)
  return costs
