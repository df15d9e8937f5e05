"""Entity spans from per-word tags, in-graph (the SavedModel returns entities, not only tags).

Tags follow BIO (IOB2, as CoNLL-2003 is usually distributed), IOB1, BIOES, or plain entity types
(IO: `PER PER O`). A span starts at a B-/S- tag, at a tag whose type differs from the word
before, or after an E-/S- tag; it runs over the following words of the same type. That is the
CoNLL `conlleval` reading, which seqeval's default mode also follows (tfsft/metrics/entities.py), so
served entities and the reported F1 count the same spans.
"""

import dataclasses
from typing import Sequence

import tensorflow as tf

OUTSIDE = "O"
_BEGIN, _END = ("B-", "S-"), ("E-", "S-")
_PREFIXES = ("B-", "I-", "E-", "S-")


def entity_type(tag: str) -> str:
  """The entity type of a tag: "" for O, the part after the prefix, or the tag itself (IO)."""
  if tag == OUTSIDE:
    return ""
  return tag[2:] if tag[:2] in _PREFIXES else tag


def with_prefix(tag: str) -> str:
  """IO tags as I-<type>, which seqeval reads as intended (it cuts the first two characters of
  any tag off as the prefix)."""
  return tag if tag == OUTSIDE or tag[:2] in _PREFIXES else f"I-{tag}"


@dataclasses.dataclass
class Spans:
  """Entities of a batch: ragged [batch, entities] over flat word indices of the tag tensor."""
  first_word: tf.RaggedTensor  # int64 index into the flat words
  last_word: tf.RaggedTensor
  type_name: tf.RaggedTensor  # string


def find_spans(tag_ids: tf.RaggedTensor, tag_names: Sequence[str]) -> Spans:
  """tag_ids: int ragged [batch, words] -> the entity spans of each sentence."""
  types = [entity_type(tag) for tag in tag_names]
  type_names = sorted(set(types))  # "" (no entity) first
  type_table = tf.constant([type_names.index(t) for t in types], tf.int32)
  begins = tf.constant([tag[:2] in _BEGIN for tag in tag_names])
  ends = tf.constant([tag[:2] in _END for tag in tag_names])

  tags = tf.cast(tag_ids.flat_values, tf.int32)
  sentence = tag_ids.value_rowids()
  word = tf.range(tf.shape(tags, out_type=tf.int64)[0])
  first_in_sentence = tf.equal(word, tf.gather(tag_ids.row_starts(), sentence))
  word_type = tf.gather(type_table, tags)
  previous_type = tf.where(first_in_sentence, 0, tf.concat([[0], word_type[:-1]], axis=0))
  previous_ended = tf.logical_and(tf.logical_not(first_in_sentence),
                                  tf.concat([[False], tf.gather(ends, tags)[:-1]], axis=0))
  inside = word_type > 0
  starts = tf.logical_and(inside, tf.reduce_any(tf.stack([
      tf.gather(begins, tags), tf.not_equal(word_type, previous_type), previous_ended]), axis=0))
  span_of_word = tf.cumsum(tf.cast(starts, tf.int64)) - 1
  span_ids = tf.boolean_mask(span_of_word, inside)
  span_words = tf.boolean_mask(word, inside)
  span_count = tf.reduce_sum(tf.cast(starts, tf.int64))
  first = tf.math.unsorted_segment_min(span_words, span_ids, span_count)
  last = tf.math.unsorted_segment_max(span_words, span_ids, span_count)
  rows = tf.gather(sentence, first)
  as_ragged = lambda values: tf.RaggedTensor.from_value_rowids(values, rows, nrows=tag_ids.nrows())
  return Spans(as_ragged(first), as_ragged(last),
               as_ragged(tf.gather(tf.constant(type_names), tf.gather(word_type, first))))


def span_mean(word_values: tf.Tensor, spans: Spans) -> tf.RaggedTensor:
  """The mean of a flat per-word value over each span's words (the entity's score)."""
  words = tf.ragged.range(spans.first_word.flat_values, spans.last_word.flat_values + 1)
  return spans.first_word.with_flat_values(
      tf.reduce_mean(tf.gather(word_values, words), axis=1))

