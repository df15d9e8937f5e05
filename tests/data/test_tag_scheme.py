"""Entity spans from tags, in-graph, on hand-made BIO / IOB1 / BIOES / IO sentences."""

import pytest
import tensorflow as tf

from tfsft.data.tag_scheme import entity_type, find_spans, span_mean, with_prefix


def _spans(sentences, tag_names):
  ids = tf.ragged.constant([[tag_names.index(t) for t in s] for s in sentences], dtype=tf.int32)
  spans = find_spans(ids, tag_names)
  return [list(zip(first, last, [t.decode() for t in types])) for first, last, types in
          zip(spans.first_word.to_list(), spans.last_word.to_list(), spans.type_name.to_list())]


BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_bio_spans_per_sentence_with_flat_word_indices():
  sentences = [["B-PER", "I-PER", "O", "B-LOC"],   # words 0-3
               ["O", "O"],                          # words 4-5: no entity
               ["B-LOC", "B-LOC", "I-LOC", "I-PER"]]  # words 6-9
  assert _spans(sentences, BIO) == [
      [(0, 1, "PER"), (3, 3, "LOC")], [],
      # B-LOC B-LOC: two entities; I-PER after a LOC starts a PER (conlleval's reading).
      [(6, 6, "LOC"), (7, 8, "LOC"), (9, 9, "PER")]]


def test_a_span_never_crosses_a_sentence_boundary():
  assert _spans([["I-PER", "I-PER"], ["I-PER"]], BIO) == [[(0, 1, "PER")], [(2, 2, "PER")]]


def test_io_and_bioes_tags():
  io = ["O", "PER", "LOC"]
  assert _spans([["PER", "PER", "O", "LOC", "PER"]], io) == [
      [(0, 1, "PER"), (3, 3, "LOC"), (4, 4, "PER")]]
  bioes = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
  assert _spans([["B-PER", "E-PER", "S-PER", "S-PER", "I-PER"]], bioes) == [
      [(0, 1, "PER"), (2, 2, "PER"), (3, 3, "PER"), (4, 4, "PER")]]


def test_entity_score_is_the_mean_over_its_words():
  ids = tf.ragged.constant([[1, 2, 0, 3]], dtype=tf.int32)
  spans = find_spans(ids, BIO)
  scores = span_mean(tf.constant([0.9, 0.7, 0.99, 0.6]), spans)
  assert scores.to_list()[0] == pytest.approx([0.8, 0.6])


def test_tag_helpers():
  assert [entity_type(t) for t in ["O", "B-PER", "I-MISC", "LOC"]] == ["", "PER", "MISC", "LOC"]
  assert [with_prefix(t) for t in ["O", "B-PER", "LOC"]] == ["O", "B-PER", "I-LOC"]
