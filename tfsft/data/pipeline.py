"""tf.data input pipelines: shuffle -> batch -> tokenize in-graph (parallel map) -> prefetch."""

from typing import Callable, Dict, List

import numpy as np
import tensorflow as tf

_SHUFFLE_BUFFER = 10_000


def training_dataset(examples: tf.data.Dataset, to_model_inputs: Callable, batch_size: int,
                     seed: int) -> tf.data.Dataset:
  """An endless, shuffled stream of (features, targets) batches; `to_model_inputs` maps a batch of
  raw (text, target) to them (the task's `model_inputs`).

  Batching before tokenization lets the tokenizer work on a whole batch at once, which is much
  faster than one string at a time. `drop_remainder` keeps batch shapes static (TPUs need that).
  """
  return (examples.shuffle(_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
          .repeat()
          .batch(batch_size, drop_remainder=True)
          .map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
          .prefetch(tf.data.AUTOTUNE))


def evaluation_dataset(examples: tf.data.Dataset, to_model_inputs: Callable,
                       batch_size: int) -> tf.data.Dataset:
  """(features, targets) batches in a fixed order, cached after tokenization for repeated
  evaluations."""
  return (examples.batch(batch_size)
          .map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
          .cache()
          .prefetch(tf.data.AUTOTUNE))


def named_inputs(examples: tf.data.Dataset, input_names) -> Dict[str, List[str]]:
  """The raw inputs of (inputs, target) examples by input name: {"text": [...], ...}."""
  rows = [inputs for inputs, _ in examples.as_numpy_iterator()]
  columns = list(zip(*rows)) if len(input_names) > 1 else [rows]
  return {name: [value.decode("utf-8") for value in column]
          for name, column in zip(input_names, columns)}


def column_of(examples: tf.data.Dataset, index: int) -> np.ndarray:
  """One column of (text, target) examples in dataset order (0: texts; 1: labels or target texts),
  read without tokenizing."""
  batches = examples.map(lambda *row: row[index]).batch(4096).as_numpy_iterator()
  dtype = examples.element_spec[index].dtype.as_numpy_dtype
  return np.concatenate(list(batches) or [np.zeros([0], dtype)])
