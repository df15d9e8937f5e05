"""Tokenized examples -> batches of rows: packed into fixed rows, or grouped by length and padded
to each batch's own longest row. Either way a batch is the same feature dict, so one model
serves both:

  token_ids    int32 [rows, length]
  segment_ids  int32: 1, 2, ... per example in the row, 0 for padding
  positions    int32: restarting at 0 for each example
  trained      int32: 1 where predicting this token carries loss

Without packing, examples are shuffled, cut into "megabatches" of 50 batches, sorted by length
within each (Hugging Face's `group_by_length`), and each batch is padded to its longest example
rounded up to --pad_to_multiple (pipeline.default_pad_to_multiple). Batch membership is fixed once;
the order of batches is reshuffled every pass.
"""

import dataclasses
from typing import List, Sequence

import numpy as np
import tensorflow as tf

from tfsft.data.packing import TokenizedExample, pack
from tfsft.data.pipeline import MEGABATCH, rounded_up

FEATURES = ("token_ids", "segment_ids", "positions", "trained")


@dataclasses.dataclass
class Batches:
  """A split's batches: `dataset(seed)` yields feature dicts (endless and shuffled for training,
  one pass in order for evaluation); `fill` is the fraction of positions holding real tokens."""
  make: object  # seed -> tf.data.Dataset
  count: int  # batches in one pass
  fill: float
  real_tokens_per_batch: float

  def dataset(self, seed: int = 0) -> tf.data.Dataset:
    return self.make(seed)


def packed_batches(examples: Sequence[TokenizedExample], row_length: int, batch_size: int,
                   pad_id: int, training: bool) -> Batches:
  """Examples best-fit packed into rows of exactly `row_length`, `batch_size` rows a batch."""
  rows = pack(examples, row_length, pad_id)
  features = {"token_ids": rows.token_ids, "segment_ids": rows.segment_ids,
              "positions": rows.positions, "trained": rows.trained.astype(np.int32)}
  count = len(rows.token_ids)

  def make(seed):
    dataset = tf.data.Dataset.from_tensor_slices(features)
    if training:
      dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
    return dataset.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)

  return Batches(make, count // batch_size if training else -(-count // batch_size), rows.fill,
                 rows.fill * row_length * min(batch_size, count))


def length_grouped_batches(examples: Sequence[TokenizedExample], batch_size: int, pad_id: int,
                           training: bool, max_width: int, pad_to_multiple: int, seed: int = 0,
                           megabatch: int = MEGABATCH) -> Batches:
  """One example per row, rows of similar length together, each batch padded to its longest
  (never wider than `max_width`, the longest an example may be)."""
  lengths = np.array([len(example.token_ids) for example in examples])
  members = _length_groups(lengths, batch_size, training, seed, megabatch)
  token_ids = tf.ragged.constant([example.token_ids for example in examples], tf.int32)
  trained = tf.ragged.constant([example.trained.astype(np.int32) for example in examples],
                               tf.int32)
  padded_lengths = [min(rounded_up(int(max(lengths[batch])), pad_to_multiple), max_width)
                    for batch in members]
  used = sum(int(lengths[batch].sum()) for batch in members)
  fill = used / max(1, sum(len(batch) * width for batch, width in zip(members, padded_lengths)))
  # Batches as rows of example indices (-1 fills the last, shorter batch in evaluation).
  index_table = np.full([len(members), batch_size], -1, np.int64)
  for row, batch in enumerate(members):
    index_table[row, :len(batch)] = batch

  def batch_features(batch_index):
    indices = tf.gather(index_table, batch_index)
    indices = tf.boolean_mask(indices, indices >= 0)
    ids = tf.gather(token_ids, indices)
    width = tf.minimum(rounded_up(tf.cast(tf.reduce_max(ids.row_lengths()), tf.int32),
                                  pad_to_multiple), max_width)
    real = tf.sequence_mask(ids.row_lengths(), width, tf.int32)
    shape = tf.stack([tf.cast(ids.nrows(), tf.int32), width])
    return {"token_ids": ids.to_tensor(pad_id, shape=shape),
            "segment_ids": real,
            "positions": real * tf.range(width, dtype=tf.int32),
            "trained": tf.gather(trained, indices).to_tensor(0, shape=shape)}

  def make(seed):
    dataset = tf.data.Dataset.range(len(members))
    if training:
      dataset = dataset.shuffle(len(members), seed=seed, reshuffle_each_iteration=True).repeat()
    return dataset.map(batch_features, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)

  return Batches(make, len(members), fill, used / max(1, len(members)))


def _length_groups(lengths: np.ndarray, batch_size: int, training: bool, seed: int,
                   megabatch_batches: int) -> List[np.ndarray]:
  """Example indices per batch. Training: shuffled, sorted by length within megabatches, only full
  batches. Evaluation: every example, sorted by length."""
  if not training:
    order = np.argsort(-lengths, kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
  order = np.random.default_rng(seed).permutation(len(lengths))
  groups = []
  span = batch_size * megabatch_batches
  for start in range(0, len(order), span):
    megabatch = order[start:start + span]
    megabatch = megabatch[np.argsort(-lengths[megabatch], kind="stable")]
    groups += [megabatch[i:i + batch_size] for i in range(0, len(megabatch), batch_size)]
  return [batch for batch in groups if len(batch) == batch_size]
