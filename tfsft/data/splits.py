"""Train / validation / test splits as tf.data datasets of (text, target), carved deterministically."""

import dataclasses
from typing import Dict, Optional, Sequence

import tensorflow as tf

_HASH_BUCKETS = 1_000_000


@dataclasses.dataclass
class LabeledTextSplits:
  """What a data source gives a task. Each split yields (text, target): an int32 label for
  classification, the target text for translation (whose `label_names` are empty)."""
  train: tf.data.Dataset
  validation: tf.data.Dataset
  test: Optional[tf.data.Dataset]
  label_names: Sequence[str]
  source: str  # said in the log so a run never hides which data it read
  # More labeled splits to score, by name (MNLI's mismatched dev set).
  extra_evaluation: Dict[str, tf.data.Dataset] = dataclasses.field(default_factory=dict)

  def evaluation_splits(self) -> Dict[str, tf.data.Dataset]:
    named = {"validation": self.validation, "test": self.test, **self.extra_evaluation}
    return {name: dataset for name, dataset in named.items() if dataset is not None}


def _bucket(text: tf.Tensor, seed: int) -> tf.Tensor:
  """A seeded hash of the text decides the split: stable across runs and machines, no shuffling
  needed, and duplicated texts always land on the same side (no train/validation leakage)."""
  return tf.strings.to_hash_bucket_strong(text, _HASH_BUCKETS, key=[seed, 0x5F7])


def _in_range(low: float, high: float, seed: int, key=None):
  """A filter predicate on (text, target): the bucket of `key(text)` (default: the text, or a
  pair as a whole) lies in [low, high) of the range."""
  def predicate(text, target):
    if key is not None:
      text = key(text)
    elif isinstance(text, tuple):  # a (text, text_pair) example: hash the pair as a whole
      text = tf.strings.join(list(text), separator="\x1f")
    bucket = _bucket(text, seed)
    return tf.logical_and(bucket >= int(low * _HASH_BUCKETS), bucket < int(high * _HASH_BUCKETS))
  return predicate


def carve_validation(train: tf.data.Dataset, fraction: float, seed: int, key=None):
  """Splits a dataset of (text, target) into (train, validation)."""
  return (train.filter(_in_range(fraction, 1.0, seed, key)),
          train.filter(_in_range(0.0, fraction, seed, key)))


def carve_validation_and_test(examples: tf.data.Dataset, validation_fraction: float,
                              test_fraction: float, seed: int, key=None):
  """Splits a single-file source into (train, validation, test) by the same seeded hash."""
  held_out = validation_fraction + test_fraction
  return (examples.filter(_in_range(held_out, 1.0, seed, key)),
          examples.filter(_in_range(0.0, validation_fraction, seed, key)),
          examples.filter(_in_range(validation_fraction, held_out, seed, key)))


def from_files(config, seed: int, train: tf.data.Dataset, validation, test, label_names,
               source: str, split_key=None) -> LabeledTextSplits:
  """Splits from a source's files: validation (and test, when neither exists) carved from train by
  the seeded hash of `split_key(text)` (default: the whole text), then cut to
  --max_train_examples / --max_eval_examples."""
  if validation is None and test is None:
    train, validation, test = carve_validation_and_test(
        train, config.validation_fraction, config.test_fraction, seed, split_key)
  elif validation is None:
    train, validation = carve_validation(train, config.validation_fraction, seed, split_key)
  return LabeledTextSplits(
      train=limit(train, config.max_train_examples),
      validation=limit(validation, config.max_eval_examples),
      test=limit(test, config.max_eval_examples),
      label_names=tuple(label_names), source=source)


def limit(dataset: Optional[tf.data.Dataset], max_examples: Optional[int]):
  if dataset is None or not max_examples:
    return dataset
  return dataset.take(max_examples)


def count(dataset: tf.data.Dataset) -> int:
  """Counts examples in-graph; this pass also runs the text checks before anything is written."""
  return int(dataset.reduce(tf.constant(0, tf.int64), lambda total, _: total + 1))
