"""fused_layers.fuse: every transformer family computes the same outputs and gradients with its
Dense and attention layers in the fused forms, traced with the dynamic shapes training uses, on
inputs with padding (so the attention mask matters)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsft.models import fused_layers
from tiny_backbones import BACKBONES, features


def _padded_features(backbone):
  inputs = features(backbone)
  inputs["padding_mask"][1, 4:] = 0  # the second row is 4 tokens and 3 padding positions
  return inputs


def _traced_outputs_and_gradients(backbone, inputs):
  spec = {name: tf.TensorSpec([None, None], tf.int32) for name in inputs}

  @tf.function(input_signature=[spec])
  def step(features):
    with tf.GradientTape() as tape:
      outputs = backbone(features, training=False)
      outputs = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
      loss = tf.reduce_sum(tf.square(tf.cast(outputs, tf.float32)))
    variables = backbone.trainable_variables
    gradients = tape.gradient(loss, variables)
    # Dense tensors for embeddings' slices; zeros for weights the output does not use (a pooler).
    return outputs, [tf.zeros(variable.shape) if gradient is None else tf.convert_to_tensor(gradient)
                     for gradient, variable in zip(gradients, variables)]

  outputs, gradients = step({name: tf.constant(value) for name, value in inputs.items()})
  return np.asarray(outputs), [np.asarray(gradient) for gradient in gradients]


def _count(backbone, kind):
  return sum(type(layer) is kind for layer in backbone._flatten_layers())  # pylint: disable=protected-access


# Gemma's query/key/value kernels are [heads, model, head_dim] ("btd,ndh->btnh"): no matrix view of
# the kernel contracts its leading axis, so those six keep Keras' einsum.
EINSUMS_LEFT_TO_KERAS = {"gemma": 6}


@pytest.mark.parametrize("family", sorted(BACKBONES))
def test_fused_layers_compute_the_same_outputs_and_gradients(family):
  backbone = BACKBONES[family]()
  inputs = _padded_features(backbone)
  outputs, gradients = _traced_outputs_and_gradients(backbone, inputs)
  # Exact classes only: keras-hub's decoders bring attention subclasses.
  expected = {"dense": _count(backbone, keras.layers.Dense),
              "einsum_dense": (_count(backbone, keras.layers.EinsumDense)
                               - EINSUMS_LEFT_TO_KERAS.get(family, 0)),
              "attention": _count(backbone, keras.layers.MultiHeadAttention)}
  assert fused_layers.fuse(backbone) == expected
  # Already fused: left alone.
  assert fused_layers.fuse(backbone) == {"dense": 0, "einsum_dense": 0, "attention": 0}
  fused_outputs, fused_gradients = _traced_outputs_and_gradients(backbone, inputs)
  np.testing.assert_allclose(fused_outputs, outputs, rtol=1e-5, atol=1e-5)
  assert len(fused_gradients) == len(gradients)
  for fused, plain in zip(fused_gradients, gradients):
    # float32 sums in another order: each element within 1e-4 of its tensor's largest gradient.
    np.testing.assert_allclose(fused, plain, rtol=1e-4, atol=1e-5 + 1e-4 * np.abs(plain).max())


def test_bert_fuses_its_attention_and_keeps_the_feature_dimension_static():
  backbone = BACKBONES["bert"]()
  assert fused_layers.fuse(backbone)["attention"] == 2  # one per layer
  spec = {name: tf.TensorSpec([None, None], tf.int32) for name in features(backbone)}
  traced = tf.function(lambda x: backbone(x)["sequence_output"]).get_concrete_function(spec)
  assert traced.structured_outputs.shape.as_list() == [None, None, 16]


@pytest.mark.parametrize("equation, output_shape, bias_axes", [
    ("abc,cde->abde", (None, 3, 4), "de"),  # a query projection: BiasAdd on the 2-D product
    ("abc,cde->abde", (None, 3, 4), "e"),  # a bias on some kept axes: broadcast after reshaping
    ("abcd,cde->abe", (None, 4), "e"),  # an attention output projection
    ("abc,cd->abd", (None, 4), None),
])
def test_matrix_form_einsum_dense_matches_keras(equation, output_shape, bias_axes):
  layer = keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="gelu",
                                   bias_initializer="random_normal")
  inputs = np.random.default_rng(0).normal(size=[2, 5, 6] if equation.startswith("abc,") else
                                           [2, 5, 2, 3]).astype("float32")
  expected = np.asarray(layer(inputs))
  assert fused_layers.fuse(layer)["einsum_dense"] == 1
  np.testing.assert_allclose(np.asarray(layer(inputs)), expected, rtol=1e-5, atol=1e-6)


def test_other_einsum_equations_keep_keras_einsum():
  layer = keras.layers.EinsumDense("btd,ndh->btnh", (None, 2, 3), bias_axes="nh")
  layer.build([1, 4, 5])
  assert fused_layers.fuse(layer)["einsum_dense"] == 0
