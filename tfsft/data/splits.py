"""Train / validation / test splits as tf.data datasets of (text, label), carved deterministically."""

import dataclasses
from typing import Optional, Sequence

import tensorflow as tf

_HASH_BUCKETS = 1_000_000


@dataclasses.dataclass
class LabeledTextSplits:
  """What a data source gives a classification task. Each split yields (text, int32 label)."""
  train: tf.data.Dataset
  validation: tf.data.Dataset
  test: Optional[tf.data.Dataset]
  label_names: Sequence[str]
  source: str  # said in the log so a run never hides which data it read


def is_validation(text: tf.Tensor, fraction: float, seed: int) -> tf.Tensor:
  """A seeded hash of the text decides the split: stable across runs and machines, no shuffling
  needed, and duplicated texts always land on the same side (no train/validation leakage)."""
  bucket = tf.strings.to_hash_bucket_strong(text, _HASH_BUCKETS, key=[seed, 0x5F7])
  return bucket < int(fraction * _HASH_BUCKETS)


def carve_validation(train: tf.data.Dataset, fraction: float, seed: int):
  """Splits a dataset of (text, label) into (train, validation)."""
  validation = train.filter(lambda text, label: is_validation(text, fraction, seed))
  remaining = train.filter(lambda text, label: tf.logical_not(is_validation(text, fraction, seed)))
  return remaining, validation


def limit(dataset: Optional[tf.data.Dataset], max_examples: Optional[int]):
  if dataset is None or not max_examples:
    return dataset
  return dataset.take(max_examples)


def count(dataset: tf.data.Dataset) -> int:
  """Counts examples in-graph; this pass also runs the text checks before anything is written."""
  return int(dataset.reduce(tf.constant(0, tf.int64), lambda total, _: total + 1))
