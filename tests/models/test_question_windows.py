"""Question/context windows, answer positions and answer picking on hand-made examples whose
right answer is known."""

import dataclasses

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tfsft.models.question_windows import Windows, answer_positions, encode_windows
from tfsft.tasks.answer_spans import SpanSettings, best_answers

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "went", "paris", "alice", "bob",
              "to", ".", "?", "new", "york", "##er", "zoë"]
CLS, SEP, PAD = 2, 3, 0
QUESTIONS = ["Who went to Paris?", "who?"]
# 12 context pieces: alice went to paris . bob went to new york ##er .
CONTEXTS = ["Alice went to Paris. Bob went to New Yorker.", "Zoë, Bob."]
LENGTH, MAX_QUERY, STRIDE = 12, 4, 2  # room for 12 - 3 - 4 = 5 context pieces per window


def _windows(answer_start=(-1, -1), answer_end=(-1, -1)):
  tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)

  @tf.function  # as in tf.data and the SavedModel (eager keras-hub returns Python lists)
  def encode(question, context, start, end):
    windows = encode_windows(tokenizer, question, context, LENGTH, MAX_QUERY, STRIDE)
    fields = [getattr(windows, field.name) for field in dataclasses.fields(windows)]
    return fields, answer_positions(windows, start, end)

  fields, positions = encode(tf.constant(QUESTIONS), tf.constant(CONTEXTS),
                             tf.constant(answer_start, tf.int64), tf.constant(answer_end, tf.int64))
  return Windows(*fields), positions


def test_long_contexts_become_overlapping_windows():
  windows, _ = _windows()
  ids = windows.features["token_ids"].numpy()
  # The question is cut to 4 pieces; windows start every 2 context pieces until one reaches the end.
  np.testing.assert_array_equal(ids[0], [CLS, 5, 6, 10, 7, SEP, 8, 6, 10, 7, 11, SEP])
  np.testing.assert_array_equal(ids[4], [CLS, 5, 6, 10, 7, SEP, 13, 14, 15, 11, SEP, PAD])
  np.testing.assert_array_equal(windows.example, [0, 0, 0, 0, 0, 1])
  np.testing.assert_array_equal(windows.first_piece, [0, 2, 4, 6, 8, 0])
  np.testing.assert_array_equal(windows.context_offset, [6, 6, 6, 6, 6, 4])
  np.testing.assert_array_equal(windows.features["segment_ids"][0], [0] * 6 + [1] * 6)
  np.testing.assert_array_equal(windows.features["padding_mask"][5], [1] * 9 + [0] * 3)


def test_answers_point_at_their_pieces_only_in_windows_that_hold_them_whole():
  # "New Yorker" (bytes 33-43: pieces 8-10) and, in the second example, "Bob" (bytes 6-9).
  _, positions = _windows(answer_start=(33, 6), answer_end=(43, 9))
  np.testing.assert_array_equal(positions, [[0, 0], [0, 0], [0, 0], [8, 10], [6, 8], [6, 6]])
  # An answer that starts inside a word takes the whole word ("ork" -> "Yorker").
  _, positions = _windows(answer_start=(38, -1), answer_end=(41, -1))
  np.testing.assert_array_equal(positions[:, 0], [0, 0, 0, 9, 7, 0])


def _answers(logits, settings):
  windows, _ = _windows()
  return {name: value.numpy() for name, value in best_answers(
      windows, tf.constant(logits), tf.constant(CONTEXTS), settings).items()}


def _logits(spans):
  """Start/end logits that put the given (window, start, end) -> value spans on top."""
  logits = np.full([6, LENGTH, 2], -5.0, np.float32)
  for (window, start, end), value in spans.items():
    logits[window, start, 0] = logits[window, end, 1] = value
  return logits


def test_the_best_span_over_all_windows_wins_and_maps_to_context_text():
  logits = _logits({(1, 9, 9): 3.0,     # "Bob" in window 1: score 6
                    (2, 7, 7): 5.0,     # "Bob" in window 2: score 10, the best
                    (0, 1, 1): 50.0,    # in the question: never an answer
                    (5, 6, 6): 4.0})    # second example: "Bob"
  logits[3, 6, 0], logits[3, 11, 1] = 9.0, 9.0  # 6 pieces: longer than max_answer_length=3
  answers = _answers(logits, SpanSettings(max_answer_length=3, n_best_size=5))
  assert [a.decode() for a in answers["answer"]] == ["Bob", "Bob"]
  np.testing.assert_array_equal(answers["answer_start"], [21, 5])  # characters: "Zoë" is 3
  np.testing.assert_array_equal(answers["answer_end"], [24, 8])
  assert 0.5 < answers["score"][0] < 1


def test_a_multi_piece_answer_spans_whole_words():
  answers = _answers(_logits({(3, 8, 10): 6.0}), SpanSettings(max_answer_length=5))
  assert answers["answer"][0].decode() == "New Yorker"


@pytest.mark.parametrize("threshold,expected", [(0.0, ""), (100.0, "Bob")])
def test_squad2_abstains_when_null_beats_the_best_span(threshold, expected):
  logits = _logits({(5, 6, 6): 2.0})
  logits[5, 0, :] = 4.0  # [CLS]: null score 8 against 4 for "Bob"
  answers = _answers(logits, SpanSettings(allow_null=True, null_score_diff_threshold=threshold))
  assert answers["answer"][1].decode() == expected
  assert answers["answer_start"][1] == (-1 if not expected else 5)
