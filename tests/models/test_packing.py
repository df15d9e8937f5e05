"""Packing: every token lands once, positions restart per example, and a packed batch gives the
same logits and loss as the same examples unpacked, for learned (GPT-2) and rotary (Llama)
positions."""

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tfsft.data.packing import TokenizedExample, best_fit_decreasing, block_causal_mask, pack
from tfsft.models.causal_lm_forward import can_pack, next_token_loss_terms, packed_logits


def _examples(lengths, vocabulary=50, seed=0):
  rng = np.random.default_rng(seed)
  return [TokenizedExample(rng.integers(1, vocabulary, length).astype(np.int32),
                           np.arange(length) >= length // 2)  # a "completion" half
          for length in lengths]


def test_best_fit_decreasing_fills_rows_without_splitting_examples():
  rows = best_fit_decreasing([5, 3, 8, 2, 6, 1], capacity=8)
  assert sorted(i for row in rows for i in row) == list(range(6))
  assert all(sum([5, 3, 8, 2, 6, 1][i] for i in row) <= 8 for row in rows)
  assert len(rows) == 4  # 25 tokens need at least 4 rows of 8
  with pytest.raises(ValueError, match="does not fit"):
    best_fit_decreasing([9], capacity=8)


def test_packed_rows_keep_every_token_once_with_restarting_positions():
  examples = _examples([5, 3, 7, 2])
  packed = pack(examples, row_length=8, pad_id=0)
  assert packed.token_ids.shape == (3, 8) and packed.fill == 17 / 24
  for example in examples:  # each example's tokens appear contiguously with positions 0..n-1
    found = [(row, start) for row in range(3) for start in range(8 - len(example.token_ids) + 1)
             if np.array_equal(packed.token_ids[row, start:start + len(example.token_ids)],
                               example.token_ids)
             and np.array_equal(packed.positions[row, start:start + len(example.token_ids)],
                                np.arange(len(example.token_ids)))]
    assert found
  mask = block_causal_mask(tf.constant([[1, 1, 2, 2, 0]])).numpy()[0]
  assert mask.tolist() == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 1, 0],
                           [0, 0, 0, 0, 1]]


def _tiny_gpt2():
  return keras_hub.models.GPT2Backbone(vocabulary_size=50, num_layers=2, num_heads=2,
                                       hidden_dim=16, intermediate_dim=32, max_sequence_length=32)


def _tiny_llama():
  return keras_hub.models.Llama3Backbone(vocabulary_size=50, num_layers=2, num_query_heads=4,
                                         num_key_value_heads=2, hidden_dim=16, intermediate_dim=32)


@pytest.mark.parametrize("make_backbone", [_tiny_gpt2, _tiny_llama], ids=["gpt2", "llama"])
def test_a_packed_batch_scores_like_the_same_examples_unpacked(make_backbone):
  tf.random.set_seed(0)
  backbone = make_backbone()
  assert can_pack(backbone)
  examples = _examples([6, 4, 9, 3, 5])
  packed = pack(examples, row_length=12, pad_id=0)
  logits = packed_logits(backbone, packed.token_ids, packed.segment_ids, packed.positions)
  packed_sum, packed_count = next_token_loss_terms(logits, packed.token_ids, packed.segment_ids,
                                                   packed.trained)
  alone_sum = alone_count = 0.0
  for example in examples:  # each example alone in a row of its own length
    ids = example.token_ids[np.newaxis]
    segments = np.ones_like(ids)
    alone = backbone({"token_ids": ids, "padding_mask": segments})
    alone_logits = backbone.token_embedding(alone, reverse=True)
    total, count = next_token_loss_terms(alone_logits, ids, segments, example.trained[np.newaxis])
    alone_sum, alone_count = alone_sum + total, alone_count + count
    row, start = _find(packed, example)
    np.testing.assert_allclose(logits[row, start:start + ids.shape[1]], alone_logits[0], atol=1e-5)
  assert float(packed_count) == float(alone_count) == sum(int(e.trained[1:].sum()) for e in examples)
  np.testing.assert_allclose(float(packed_sum / packed_count), float(alone_sum / alone_count),
                             rtol=1e-6)


def _find(packed, example):
  length = len(example.token_ids)
  for row in range(packed.token_ids.shape[0]):
    for start in range(packed.token_ids.shape[1] - length + 1):
      if (np.array_equal(packed.token_ids[row, start:start + length], example.token_ids)
          and packed.positions[row, start] == 0):
        return row, start
  raise AssertionError("example not found in the packed rows")
