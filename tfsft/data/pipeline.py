"""tf.data input pipelines: shuffle -> batch -> tokenize in-graph (parallel map) -> prefetch."""

from typing import Callable

import numpy as np
import tensorflow as tf

_SHUFFLE_BUFFER = 10_000


def training_dataset(examples: tf.data.Dataset, preprocess: Callable, batch_size: int,
                     seed: int) -> tf.data.Dataset:
  """An endless, shuffled stream of (features, label) batches.

  Batching before tokenization lets the tokenizer work on a whole batch at once, which is much
  faster than one string at a time. `drop_remainder` keeps batch shapes static (TPUs need that).
  """
  return (examples.shuffle(_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
          .repeat()
          .batch(batch_size, drop_remainder=True)
          .map(lambda text, label: (preprocess(text), label),
               num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
          .prefetch(tf.data.AUTOTUNE))


def evaluation_dataset(examples: tf.data.Dataset, preprocess: Callable,
                       batch_size: int) -> tf.data.Dataset:
  """(features, label) batches in a fixed order, cached after tokenization for repeated evaluations."""
  return (examples.batch(batch_size)
          .map(lambda text, label: (preprocess(text), label), num_parallel_calls=tf.data.AUTOTUNE)
          .cache()
          .prefetch(tf.data.AUTOTUNE))


def labels_of(examples: tf.data.Dataset):
  """The labels in dataset order, read without tokenizing."""
  batches = examples.map(lambda text, label: label).batch(4096).as_numpy_iterator()
  return np.concatenate(list(batches) or [np.zeros([0], np.int32)])
