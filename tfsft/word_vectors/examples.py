"""Training examples from id sequences, generated in tf.data."""

import tensorflow as tf

from tfsft.word_vectors.corpus import PADDING_ID


def subsample(ids: tf.Tensor, keep_probabilities: tf.Tensor, seed: int) -> tf.Tensor:
  keep = tf.random.uniform(tf.shape(ids), seed=seed) < tf.gather(keep_probabilities, ids)
  return tf.boolean_mask(ids, keep)


def window_pairs(ids: tf.Tensor, window: int):
  """(left, right, distance) for every two words at most `window` apart, in both orders."""
  lefts, rights, distances = [], [], []
  for distance in range(1, window + 1):
    first, second = ids[:-distance], ids[distance:]
    lefts += [first, second]
    rights += [second, first]
    distances += [tf.fill(tf.shape(first), distance)] * 2
  return tf.concat(lefts, 0), tf.concat(rights, 0), tf.concat(distances, 0)


def context_windows(ids: tf.Tensor, window: int):
  """CBOW: every position's target and its 2*window neighbours (PADDING_ID past the ends)."""
  padding = tf.fill([window], tf.constant(PADDING_ID, ids.dtype))
  frames = tf.signal.frame(tf.concat([padding, ids, padding], 0), 2 * window + 1, 1)
  return frames[:, window], tf.concat([frames[:, :window], frames[:, window + 1:]], 1)


def with_negatives(batch: dict, negative_logits: tf.Tensor, negatives: int, seed: int):
  """Adds `negatives` sampled ids per example and the matching labels: 1 for the true word,
  0 for each negative."""
  size = tf.shape(batch["target"])[0]
  sampled = tf.random.categorical(negative_logits[tf.newaxis], size * negatives, seed=seed)
  batch = dict(batch, negatives=tf.reshape(sampled, [size, negatives]))
  labels = tf.concat([tf.ones([size, 1]), tf.zeros([size, negatives])], 1)
  return batch, labels
