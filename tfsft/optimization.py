"""The BERT fine-tuning recipe (Devlin et al., 2019, appendix A.3) on Keras 3's AdamW (each update one
fused kernel, tfsft/fused_adamw.py):
linear warmup to the peak learning rate, linear decay to zero, no weight decay on LayerNorm or bias
variables, and global-norm gradient clipping.
"""

import keras
from keras import ops

from tfsft.config import OptimizerConfig
from tfsft.fused_adamw import FusedAdamW

# Keras 3 matches these against each variable's name: keras-hub's LayerNorm variables are
# gamma/beta, its RMSNorm weights (Llama, Mistral, Qwen, Gemma) `scale`, and every Dense/attention
# bias is `bias`.
NO_WEIGHT_DECAY = ("bias", "gamma", "beta", "scale")


@keras.saving.register_keras_serializable(package="tfsft")
class LinearWarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):

  def __init__(self, peak_learning_rate: float, warmup_steps: int, total_steps: int):
    self.peak_learning_rate = peak_learning_rate
    self.warmup_steps = warmup_steps
    self.total_steps = total_steps

  def __call__(self, step):
    step = ops.cast(step, "float32")
    warmup = self.peak_learning_rate * step / max(1, self.warmup_steps)
    remaining = ops.maximum(0.0, self.total_steps - step)
    decay = self.peak_learning_rate * remaining / max(1, self.total_steps - self.warmup_steps)
    return ops.where(step < self.warmup_steps, warmup, decay)

  def get_config(self):
    return {"peak_learning_rate": self.peak_learning_rate, "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps}


def make_optimizer(config: OptimizerConfig, peak_learning_rate: float,
                   total_steps: int) -> keras.optimizers.Optimizer:
  schedule = LinearWarmupLinearDecay(peak_learning_rate, int(config.warmup_ratio * total_steps),
                                     total_steps)
  optimizer = FusedAdamW(
      learning_rate=schedule, weight_decay=config.weight_decay, epsilon=config.adam_epsilon,
      global_clipnorm=config.clip_global_norm or None)
  optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
  return optimizer
