"""FusedAdamW takes Keras AdamW's steps, shares its checkpoints, sums embedding gradients before
squaring them, and clips the gradient of the global batch on two replicas."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsft.fused_adamw import FusedAdamW

_EXCLUDED = ["gamma", "beta", "bias"]


def _model(embedding=True):
  """An embedding (IndexedSlices gradients, repeated tokens) or a dense projection of the same
  one-hot input (dense gradients), a LayerNorm and biases (no weight decay), a kernel."""
  keras.utils.set_random_seed(0)
  tokens = keras.Input((5,), dtype="int32")
  if embedding:
    hidden = keras.layers.Embedding(50, 8)(tokens)
  else:
    hidden = keras.layers.Dense(8, use_bias=False)(keras.ops.one_hot(tokens, 50))
  hidden = keras.layers.LayerNormalization()(hidden)
  hidden = keras.layers.GlobalAveragePooling1D()(hidden)
  return keras.Model(tokens, keras.layers.Dense(3)(hidden))


def _compiled(optimizer_class, embedding=True):
  model = _model(embedding)
  schedule = keras.optimizers.schedules.PolynomialDecay(1e-2, 10, 0.0)
  # A clipping norm the gradients exceed, so clipping changes every step.
  optimizer = optimizer_class(learning_rate=schedule, weight_decay=0.1, global_clipnorm=0.05,
                              epsilon=1e-6)
  optimizer.exclude_from_weight_decay(var_names=_EXCLUDED)
  model.compile(optimizer=optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def _batch(seed):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 50, (16, 5)), rng.integers(0, 3, (16,))


def _state(model):
  return [v.numpy() for v in model.trainable_variables + model.optimizer.variables]


def _assert_same(a, b):
  assert len(a) == len(b)
  for left, right in zip(a, b):
    np.testing.assert_allclose(left, right, rtol=1e-5, atol=1e-6)


def test_steps_match_keras_adamw_on_dense_gradients():
  keras_model, fused_model = (_compiled(keras.optimizers.AdamW, embedding=False),
                              _compiled(FusedAdamW, embedding=False))
  for seed in range(5):
    keras_model.train_on_batch(*_batch(seed))
    fused_model.train_on_batch(*_batch(seed))
  _assert_same(_state(keras_model), _state(fused_model))
  # The steps moved the weights: equality is not two untouched models.
  assert not np.allclose(_state(fused_model)[0], _model(False).trainable_variables[0].numpy())


def test_an_embedding_gradient_is_summed_before_it_is_squared():
  """A token in a batch twice: the step is the one its dense (summed) gradient gives; Keras'
  AdamW squares the two slices apart and steps further."""
  repeated = tf.IndexedSlices(tf.constant([[1.0, 2.0], [3.0, 1.0]]), tf.constant([1, 1]),
                              tf.constant([4, 2]))
  def stepped(optimizer_class, gradient):
    variable = keras.Variable(np.ones((4, 2), "float32"))
    optimizer = optimizer_class(learning_rate=0.1, weight_decay=0.0)
    for _ in range(2):
      optimizer.apply_gradients([(gradient, variable)])
    return variable.numpy()
  dense = stepped(keras.optimizers.AdamW, tf.convert_to_tensor(repeated))
  np.testing.assert_allclose(stepped(FusedAdamW, repeated), dense, rtol=1e-5)
  assert not np.allclose(stepped(keras.optimizers.AdamW, repeated), dense, rtol=1e-3)


def test_a_keras_adamw_checkpoint_resumes_into_fused_adamw(tmp_path):
  """Run directories trained before FusedAdamW existed resume with the same moments."""
  written = _compiled(keras.optimizers.AdamW, embedding=False)
  for seed in range(2):
    written.train_on_batch(*_batch(seed))
  path = tf.train.Checkpoint(model=written, optimizer=written.optimizer).write(
      str(tmp_path / "ckpt"))
  resumed = _compiled(FusedAdamW, embedding=False)
  resumed.optimizer.build(resumed.trainable_variables)
  tf.train.Checkpoint(model=resumed, optimizer=resumed.optimizer).read(path).assert_consumed()
  for seed in (2, 3):
    written.train_on_batch(*_batch(seed))
    resumed.train_on_batch(*_batch(seed))
  _assert_same(_state(written), _state(resumed))


def test_amsgrad_is_refused():
  with pytest.raises(ValueError, match="amsgrad"):
    FusedAdamW(amsgrad=True)


# Logical CPUs must be configured before TensorFlow starts, hence a fresh process.
_TWO_REPLICAS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from test_fused_adamw import _batch, _compiled, _state
from tfsft.fused_adamw import FusedAdamW

def trained(strategy, optimizer_class):
  with strategy.scope():
    model = _compiled(optimizer_class)
  for seed in range(3):
    model.fit(*_batch(seed), batch_size=16, verbose=0)
  return _state(model)

reference = trained(tf.distribute.get_strategy(), FusedAdamW)
mirrored = trained(tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"]), FusedAdamW)
print(max(float(np.abs(a - b).max()) for a, b in zip(reference, mirrored)))
"""


def test_two_replicas_take_the_step_one_device_takes():
  """Clipping sees the global batch's gradient (Keras' AdamW clips each replica's share: 0.03
  apart after three steps here)."""
  tests = os.path.dirname(os.path.abspath(__file__))
  process = subprocess.run(
      [sys.executable, "-c", _TWO_REPLICAS], capture_output=True, text=True, cwd=tests,
      env=dict(os.environ, PYTHONPATH=os.pathsep.join([tests, os.path.dirname(tests)]),
               TF_CPP_MIN_LOG_LEVEL="2"))
  assert process.returncode == 0, process.stderr[-3000:]
  assert float(process.stdout.strip().splitlines()[-1]) < 1e-5
