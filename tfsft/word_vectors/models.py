"""Keras models whose `input_embedding` layer holds the word vectors.

skip-gram: a word predicts each neighbour; CBOW: the mean of the neighbours predicts the word. Both
score the true word against sampled negatives with a sigmoid (negative sampling, Mikolov et al.,
2013). GloVe (Pennington et al., 2014) regresses w_i . w~_j + b_i + b~_j onto log X_ij, weighted
by f(X_ij) = min(1, (X_ij / x_max)^alpha); its vectors are W + W~.
"""

import keras
from keras import ops


def skipgram(vocabulary_size: int, dim: int, negatives: int) -> keras.Model:
  target = keras.Input((), dtype="int64", name="target")
  context = keras.Input((), dtype="int64", name="context")
  sampled = keras.Input((negatives,), dtype="int64", name="negatives")
  word = keras.layers.Embedding(vocabulary_size, dim, name="input_embedding")(target)
  candidates = ops.concatenate([ops.expand_dims(context, 1), sampled], axis=1)
  scored = keras.layers.Embedding(vocabulary_size, dim, name="output_embedding")(candidates)
  logits = ops.einsum("bd,bkd->bk", word, scored)
  return keras.Model({"target": target, "context": context, "negatives": sampled}, logits,
                     name="skipgram")


def cbow(vocabulary_size: int, dim: int, window: int, negatives: int) -> keras.Model:
  target = keras.Input((), dtype="int64", name="target")
  context = keras.Input((2 * window,), dtype="int64", name="context")
  sampled = keras.Input((negatives,), dtype="int64", name="negatives")
  neighbours = keras.layers.Embedding(vocabulary_size, dim, name="input_embedding")(context)
  present = ops.cast(ops.not_equal(context, 0), neighbours.dtype)[..., None]
  mean = ops.sum(neighbours * present, axis=1) / ops.maximum(ops.sum(present, axis=1), 1.0)
  candidates = ops.concatenate([ops.expand_dims(target, 1), sampled], axis=1)
  scored = keras.layers.Embedding(vocabulary_size, dim, name="output_embedding")(candidates)
  logits = ops.einsum("bd,bkd->bk", mean, scored)
  return keras.Model({"target": target, "context": context, "negatives": sampled}, logits,
                     name="cbow")


def glove(vocabulary_size: int, dim: int) -> keras.Model:
  row = keras.Input((), dtype="int64", name="row")
  column = keras.Input((), dtype="int64", name="column")
  vectors = keras.layers.Embedding(vocabulary_size, dim, name="input_embedding")(row)
  contexts = keras.layers.Embedding(vocabulary_size, dim, name="output_embedding")(column)
  row_bias = keras.layers.Embedding(vocabulary_size, 1, name="input_bias")(row)
  column_bias = keras.layers.Embedding(vocabulary_size, 1, name="output_bias")(column)
  prediction = ops.sum(vectors * contexts, axis=-1) + row_bias[:, 0] + column_bias[:, 0]
  return keras.Model({"row": row, "column": column}, prediction, name="glove")
