"""Packing: several tokenized examples share one fixed-length row, so compute goes to tokens, not
padding (TRL `padding_free`, Axolotl `sample_packing`, torchtune's packed datasets).

Rows are filled best-fit-decreasing: examples longest first, each into the fullest row it still
fits, which leaves little room unused on real length distributions. Each row carries
`segment_ids` (1, 2, ... per example, 0 for padding) and `positions` restarting at 0 for each
example; the model uses them to keep examples from attending to each other
(`block_causal_mask`) and, for learned absolute positions (GPT-2), to give each example the
positions it would have alone. `loss_weights` marks the tokens that are trained (completion-only
loss), shifted as the targets are: weight i belongs to the prediction of token i + 1.
"""

import bisect
import dataclasses
from typing import List, Sequence

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class TokenizedExample:
  token_ids: np.ndarray  # int32 [length]
  trained: np.ndarray  # bool [length]: whether predicting this token carries loss


@dataclasses.dataclass(frozen=True)
class PackedRows:
  token_ids: np.ndarray  # int32 [rows, row_length], padding as `pad_id`
  segment_ids: np.ndarray  # int32 [rows, row_length]: 1.. per example, 0 for padding
  positions: np.ndarray  # int32 [rows, row_length]: restarting at 0 per example
  trained: np.ndarray  # bool [rows, row_length]: the token at this place carries loss

  @property
  def fill(self) -> float:
    """The fraction of row positions that hold a real token."""
    return float(np.mean(self.segment_ids > 0)) if self.segment_ids.size else 0.0


def best_fit_decreasing(lengths: Sequence[int], capacity: int) -> List[List[int]]:
  """Example indices per row; no row holds more than `capacity` tokens. Ties keep input order, so
  the same lengths always give the same rows."""
  if any(length > capacity for length in lengths):
    raise ValueError(f"an example of {max(lengths)} tokens does not fit a row of {capacity}")
  rows: List[List[int]] = []
  free = []  # sorted (room left, row index): the best fit is the first row with enough room
  for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
    slot = bisect.bisect_left(free, (lengths[index], -1))
    if slot < len(free):
      room, row = free.pop(slot)
    else:
      room, row = capacity, len(rows)
      rows.append([])
    rows[row].append(index)
    bisect.insort(free, (room - lengths[index], row))
  return rows


def pack(examples: Sequence[TokenizedExample], row_length: int, pad_id: int) -> PackedRows:
  """Packs `examples` (each at most `row_length` tokens) into rows of exactly `row_length`."""
  rows = best_fit_decreasing([len(example.token_ids) for example in examples], row_length)
  shape = (len(rows), row_length)
  packed = PackedRows(token_ids=np.full(shape, pad_id, np.int32),
                      segment_ids=np.zeros(shape, np.int32), positions=np.zeros(shape, np.int32),
                      trained=np.zeros(shape, bool))
  for row, members in enumerate(rows):
    start = 0
    for segment, index in enumerate(members, 1):
      example = examples[index]
      end = start + len(example.token_ids)
      packed.token_ids[row, start:end] = example.token_ids
      packed.segment_ids[row, start:end] = segment
      packed.positions[row, start:end] = np.arange(end - start)
      packed.trained[row, start:end] = example.trained
      start = end
  return packed


def block_causal_mask(segment_ids: tf.Tensor) -> tf.Tensor:
  """[batch, length, length] int32: position i may attend to j when both belong to the same
  example and j <= i (keras-hub's decoder layers add the causal part themselves; it is included
  here so the mask is right on its own). Padding attends only to itself, which keeps its softmax
  finite; it carries no loss."""
  same_segment = tf.equal(segment_ids[:, :, tf.newaxis], segment_ids[:, tf.newaxis, :])
  length = tf.shape(segment_ids)[1]
  causal = tf.linalg.band_part(tf.ones([length, length], tf.bool), -1, 0)
  return tf.cast(tf.logical_and(same_segment, causal[tf.newaxis]), tf.int32)
