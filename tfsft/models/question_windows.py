"""(question, context) -> BERT windows over long contexts, in-graph (SQuAD-style extractive QA).

As in the BERT paper and Model Garden's `squad_lib`: the question is cut to `max_query_length`
pieces, and a context longer than the room left is covered by overlapping windows that start every
`doc_stride` pieces; each window is `[CLS] question [SEP] context part [SEP]` with segment ids 0/1.
Every context piece remembers its word, and every word its byte offsets, so a predicted span of
pieces maps back to exact context text. Training, evaluation and the SavedModel share this code.
"""

import dataclasses
from typing import Dict

import tensorflow as tf

from tfsft.models.word_pieces import split_words


@dataclasses.dataclass
class Windows:
  features: Dict[str, tf.Tensor]  # token_ids, padding_mask, segment_ids: int32 [windows, length]
  example: tf.Tensor  # int64 [windows]: the input row each window comes from
  context_offset: tf.Tensor  # int64 [windows]: sequence position of the window's first context piece
  piece_word: tf.RaggedTensor  # int64 [windows, pieces]: flat index (into `word_starts`) of each
  #                              context piece's word
  first_piece: tf.Tensor  # int64 [windows]: the window's first piece within its context's pieces
  word_starts: tf.Tensor  # int64 [all words]: byte offsets of the context words, flat
  word_ends: tf.Tensor
  context_pieces: tf.RaggedTensor  # [examples, pieces]: flat word index of every context piece


def encode_windows(tokenizer, question: tf.Tensor, context: tf.Tensor, sequence_length: int,
                   max_query_length: int, doc_stride: int) -> Windows:
  question_pieces = tokenizer(question)[:, :max_query_length]
  words, word_starts, word_ends = split_words(context)
  pieces_per_word = tokenizer(words.flat_values)  # ragged [all words, pieces]
  # Each context's pieces, and the flat index of the word each piece came from.
  context_ids = tf.RaggedTensor.from_row_splits(pieces_per_word, words.row_splits).merge_dims(1, 2)
  context_pieces = context_ids.with_flat_values(pieces_per_word.value_rowids())

  room = sequence_length - 3 - question_pieces.row_lengths()  # [CLS] q [SEP] ... [SEP]
  pieces = context_ids.row_lengths()
  # Windows start at 0, doc_stride, 2 * doc_stride, ... until one reaches the context's end.
  extra = tf.maximum(tf.math.floordiv(pieces - room + doc_stride - 1, doc_stride), 0)
  per_example = extra + 1
  example = tf.repeat(tf.range(question_pieces.nrows()), per_example)
  first_piece = tf.ragged.range(per_example).flat_values * doc_stride
  length = tf.minimum(tf.gather(room, example), tf.gather(pieces, example) - first_piece)
  flat_index = (tf.ragged.range(first_piece, first_piece + length)
                + tf.gather(context_ids.row_starts(), example)[:, tf.newaxis])
  window_ids = tf.gather(context_ids.flat_values, flat_index)
  window_question = tf.gather(question_pieces, example)

  cast = lambda value: tf.cast(value, window_ids.dtype)
  column = lambda value: tf.fill([tf.shape(example)[0], 1], cast(value))
  token_ids = tf.concat([column(tokenizer.cls_token_id), window_question,
                         column(tokenizer.sep_token_id), window_ids,
                         column(tokenizer.sep_token_id)], axis=1)
  context_offset = window_question.row_lengths() + 2
  segment_ids = tf.cast(tf.sequence_mask(token_ids.row_lengths(), sequence_length), tf.int32) - \
      tf.cast(tf.sequence_mask(context_offset, sequence_length), tf.int32)
  features = {
      "token_ids": tf.cast(token_ids.to_tensor(cast(tokenizer.pad_token_id),
                                               shape=[None, sequence_length]), tf.int32),
      "padding_mask": tf.sequence_mask(token_ids.row_lengths(), sequence_length, dtype=tf.int32),
      "segment_ids": segment_ids,
  }
  return Windows(features, example, context_offset,
                 piece_word=tf.gather(context_pieces.flat_values, flat_index),
                 first_piece=first_piece, word_starts=word_starts.flat_values,
                 word_ends=word_ends.flat_values, context_pieces=context_pieces)


def answer_positions(windows: Windows, answer_start: tf.Tensor, answer_end: tf.Tensor) -> tf.Tensor:
  """int32 [windows, 2]: the sequence positions of the answer's first and last piece in each
  window, or (0, 0) ([CLS]) where the window does not hold the whole answer or there is none
  (answer_start < 0). `answer_start` / `answer_end` are byte offsets per example.

  A piece belongs to the answer when its word overlaps the answer's bytes, so an answer that
  starts or ends inside a word takes the whole word.
  """
  pieces = windows.context_pieces
  piece_start = tf.gather(windows.word_starts, pieces.flat_values)
  piece_end = tf.gather(windows.word_ends, pieces.flat_values)
  row = pieces.value_rowids()
  overlaps = tf.logical_and(piece_end > tf.gather(answer_start, row),
                            piece_start < tf.gather(answer_end, row))
  position = tf.range(tf.size(row, out_type=tf.int64)) - tf.gather(pieces.row_starts(), row)
  big = tf.int64.max
  first = tf.math.unsorted_segment_min(tf.where(overlaps, position, big), row, pieces.nrows())
  last = tf.math.unsorted_segment_max(tf.where(overlaps, position, -1), row, pieces.nrows())
  first, last = tf.gather(first, windows.example), tf.gather(last, windows.example)
  window_end = windows.first_piece + windows.piece_word.row_lengths()
  inside = tf.logical_and(tf.logical_and(last >= 0, first >= windows.first_piece), last < window_end)
  start = tf.where(inside, first - windows.first_piece + windows.context_offset, 0)
  end = tf.where(inside, last - windows.first_piece + windows.context_offset, 0)
  return tf.cast(tf.stack([start, end], axis=1), tf.int32)
