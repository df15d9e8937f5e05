import keras
import numpy as np
import pytest

from tfsft.config import OptimizerConfig
from tfsft.optimization import LinearWarmupLinearDecay, make_optimizer


def test_schedule_warms_up_linearly_then_decays_to_zero():
  schedule = LinearWarmupLinearDecay(1e-3, warmup_steps=10, total_steps=110)
  values = [float(schedule(step)) for step in (0, 5, 10, 60, 110, 200)]
  np.testing.assert_allclose(values, [0, 5e-4, 1e-3, 5e-4, 0, 0], atol=1e-9)
  assert LinearWarmupLinearDecay(**schedule.get_config()).get_config() == schedule.get_config()


def test_weight_decay_spares_layer_norm_and_bias():
  dense = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
  norm = keras.layers.LayerNormalization()
  model = keras.Sequential([keras.Input((2,)), dense, norm])
  optimizer = make_optimizer(OptimizerConfig(weight_decay=0.5, warmup_ratio=0.0), 0.1, 100)
  zeros = [np.zeros(v.shape, "float32") for v in model.trainable_variables]
  optimizer.apply_gradients(zip(zeros, model.trainable_variables))
  # Zero gradients: only decoupled weight decay can move a variable.
  assert np.all(dense.kernel.numpy() < 1.0)
  for unchanged in (dense.bias, norm.gamma):
    np.testing.assert_array_equal(unchanged.numpy(), np.ones(unchanged.shape))


def test_gradient_clipping_is_global_norm():
  optimizer = make_optimizer(OptimizerConfig(clip_global_norm=1.0), 1e-3, 10)
  assert optimizer.global_clipnorm == pytest.approx(1.0)
