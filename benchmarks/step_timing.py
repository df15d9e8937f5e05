"""A Keras callback that times training steps, for benchmarks that run trainer.run."""

import time

import keras


class SteadyStepTimer(keras.callbacks.Callback):
  """End time of every training step; the first `warmup` steps (tracing) are not timed."""

  def __init__(self, warmup: int = 3):
    super().__init__()
    self.warmup, self.ends = warmup, []

  def on_train_batch_end(self, batch, logs=None):
    self.ends.append(time.perf_counter())

  def seconds_per_step(self) -> float:
    if len(self.ends) <= self.warmup:
      raise RuntimeError(f"only {len(self.ends)} steps ran: fewer than warmup + 1")
    return (self.ends[-1] - self.ends[self.warmup - 1]) / (len(self.ends) - self.warmup)
