"""Tokens, a counted vocabulary and id sequences for word-vector training, all in tf ops.

Tokens are made exactly as Keras' TextVectorization makes them by default (lower-case, strip ASCII
punctuation, split on whitespace), so vectors trained here line up with the `lstm` model's
vocabulary when passed back through --pretrained_embeddings.
"""

import dataclasses

import numpy as np
import tensorflow as tf

# keras.layers.TextVectorization's "lower_and_strip_punctuation" pattern.
STRIP_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
PADDING_ID = 0  # id 0 pads windows; word ids are 1..len(words)


def tokenize(texts: tf.Tensor) -> tf.RaggedTensor:
  standardized = tf.strings.regex_replace(tf.strings.lower(texts), STRIP_PUNCTUATION, "")
  return tf.strings.split(standardized)


@dataclasses.dataclass
class Vocabulary:
  words: list  # most frequent first; word i has id i + 1
  counts: np.ndarray

  def __len__(self):
    return len(self.words)

  def lookup_table(self) -> tf.lookup.StaticHashTable:
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.words), tf.range(1, len(self.words) + 1, dtype=tf.int64)),
        default_value=PADDING_ID)

  def negative_sampling_logits(self, power: float = 0.75) -> tf.Tensor:
    """Mikolov et al. (2013): negatives drawn from the unigram distribution to the 3/4 power;
    the padding id gets probability 0."""
    weights = np.power(self.counts.astype(np.float64), power)
    return tf.constant(np.concatenate([[-np.inf], np.log(weights / weights.sum())]), tf.float32)

  def keep_probabilities(self, threshold: float) -> tf.Tensor:
    """word2vec's subsampling of frequent words: keep a word of frequency f with probability
    (sqrt(f / t) + 1) * t / f, capped at 1; t = 0 keeps everything."""
    if threshold <= 0:
      return tf.ones([len(self.words) + 1], tf.float32)
    frequency = self.counts / self.counts.sum()
    keep = np.minimum(1.0, (np.sqrt(frequency / threshold) + 1) * threshold / frequency)
    return tf.constant(np.concatenate([[0.0], keep]), tf.float32)


def build_vocabulary(texts: tf.data.Dataset, min_count: int) -> Vocabulary:
  """Counts tokens batch by batch (tf.unique_with_counts), merging the running counts."""
  words = tf.constant([], tf.string)
  counts = tf.constant([], tf.int64)
  for batch in texts.batch(1024).prefetch(tf.data.AUTOTUNE):
    batch_words, _, batch_counts = tf.unique_with_counts(tokenize(batch).flat_values,
                                                         out_idx=tf.int64)
    merged, index = tf.unique(tf.concat([words, batch_words], 0), out_idx=tf.int64)
    counts = tf.math.unsorted_segment_sum(tf.concat([counts, batch_counts], 0), index,
                                          tf.shape(merged, out_type=tf.int64)[0])
    words = merged
  words, counts = words.numpy(), counts.numpy()
  keep = counts >= min_count
  # Most frequent first; ties broken by the word so the order is reproducible.
  order = sorted(np.flatnonzero(keep), key=lambda i: (-counts[i], words[i]))
  return Vocabulary([words[i].decode("utf-8") for i in order], counts[order])


def encode(texts: tf.data.Dataset, vocabulary: Vocabulary) -> tf.data.Dataset:
  """Each text -> int64 ids of its in-vocabulary tokens (out-of-vocabulary tokens are dropped)."""
  table = vocabulary.lookup_table()

  def to_ids(text):
    ids = table.lookup(tokenize(text[tf.newaxis]).flat_values)
    return tf.boolean_mask(ids, ids != PADDING_ID)

  return texts.map(to_ids, num_parallel_calls=tf.data.AUTOTUNE)
