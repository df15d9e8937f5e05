"""Start/end logits of every window -> one answer per question, in-graph (traced into the SavedModel).

The post-processing of the BERT paper and Model Garden's `squad_lib`: in each window, the n best
(start, end) pairs inside the context with start <= end < start + max_answer_length, scored by
start logit + end logit; then the n best over all windows of a question. The answer is the best
span's text, its probability a softmax over those n best. With unanswerable questions allowed
(SQuAD 2.0), the null answer ([CLS] as start and end, its lowest score over the windows) wins when
it beats the best span by more than `null_score_diff_threshold`.
"""

import dataclasses

import tensorflow as tf

from tfsft.models.question_windows import Windows


@dataclasses.dataclass(frozen=True)
class SpanSettings:
  max_answer_length: int = 30  # in word-pieces
  n_best_size: int = 20
  allow_null: bool = False  # SQuAD 2.0: the model may abstain
  null_score_diff_threshold: float = 0.0


def best_answers(windows: Windows, logits: tf.Tensor, context: tf.Tensor, settings: SpanSettings):
  """logits: float32 [windows, length, 2]; context: the questions' contexts, string [questions].
  Returns per question: answer (string, "" when none), answer_start / answer_end (int32 character
  offsets into the context, end exclusive; -1 when none) and score (the answer's probability)."""
  start_logits, end_logits = logits[..., 0], logits[..., 1]
  length = tf.shape(start_logits, out_type=tf.int64)[1]
  questions = tf.shape(context, out_type=tf.int64)[0]
  best, window, start, end = _n_best(windows, start_logits, end_logits, length, questions, settings)

  # Pieces -> their words -> the context bytes from the first word's start to the last word's end.
  piece_words = tf.concat([windows.piece_word.flat_values, [0]], axis=0)  # [0]: a safe index
  piece_base = (tf.gather(windows.piece_word.row_starts(), window)
                - tf.gather(windows.context_offset, window))
  word_at = lambda position: tf.gather(piece_words, tf.clip_by_value(
      piece_base + position, 0, tf.size(piece_words, out_type=tf.int64) - 1))
  word_starts = tf.concat([windows.word_starts, [0]], axis=0)
  word_ends = tf.concat([windows.word_ends, [0]], axis=0)
  found = tf.math.is_finite(best[:, 0])  # a question with no span inside any window has none
  # Without a span the indices above point anywhere: cut nothing from the context then.
  byte_start = tf.where(found, tf.gather(word_starts, word_at(start)), 0)
  byte_end = tf.where(found, tf.gather(word_ends, word_at(end)), 0)
  text = tf.strings.substr(context, byte_start, byte_end - byte_start)
  characters = lambda offset: tf.cast(tf.strings.length(
      tf.strings.substr(context, tf.zeros_like(offset), offset), unit="UTF8_CHAR"), tf.int32)

  probabilities = tf.nn.softmax(best, axis=-1)
  answered, score = found, tf.where(found, probabilities[:, 0], 0.0)
  if settings.allow_null:
    # Each window scores "no answer" at [CLS]; a question's null score is its lowest (squad_lib).
    null = tf.math.unsorted_segment_min(start_logits[:, 0] + end_logits[:, 0], windows.example,
                                        questions)
    answered = tf.logical_and(found, null - best[:, 0] <= settings.null_score_diff_threshold)
    with_null = tf.nn.softmax(tf.concat([null[:, tf.newaxis], best], axis=1), axis=-1)
    score = tf.where(answered, with_null[:, 1], with_null[:, 0])
  return {
      "answer": tf.where(answered, text, ""),
      "answer_start": tf.where(answered, characters(byte_start), -1),
      "answer_end": tf.where(answered, characters(byte_end), -1),
      "score": score,
  }


def _n_best(windows, start_logits, end_logits, length, questions, settings):
  """The n best spans of each question over all its windows: their scores [questions, n] (best
  first; -inf where fewer exist) and the best one's window and start / end sequence positions."""
  positions = tf.range(length)
  context_end = windows.context_offset + windows.piece_word.row_lengths()
  in_context = tf.logical_and(positions[tf.newaxis] >= windows.context_offset[:, tf.newaxis],
                              positions[tf.newaxis] < context_end[:, tf.newaxis])
  span_length = positions[tf.newaxis, :] - positions[:, tf.newaxis]  # [start, end] -> end - start
  allowed = tf.logical_and(span_length >= 0, span_length < settings.max_answer_length)
  allowed = tf.logical_and(allowed[tf.newaxis], tf.logical_and(in_context[:, :, tf.newaxis],
                                                               in_context[:, tf.newaxis, :]))
  scores = start_logits[:, :, tf.newaxis] + end_logits[:, tf.newaxis, :]
  scores = tf.reshape(tf.where(allowed, scores, -float("inf")), [tf.shape(scores)[0], -1])
  k = tf.minimum(tf.cast(settings.n_best_size, tf.int64), length * length)
  window_best, window_span = tf.math.top_k(scores, k=tf.cast(k, tf.int32))
  # Windows are grouped by question in order, so a question's candidates are the flat run
  # [first window * k, (last window + 1) * k) of all windows' candidates.
  by_question = tf.RaggedTensor.from_value_rowids(window_best, windows.example, nrows=questions)
  candidates = by_question.merge_dims(1, 2).to_tensor(-float("inf"))
  best, best_index = tf.math.top_k(candidates, k=tf.minimum(settings.n_best_size,
                                                             tf.shape(candidates)[1]))
  flat = by_question.row_starts() * k + tf.cast(best_index[:, 0], tf.int64)
  window = tf.minimum(flat // k, tf.maximum(tf.size(windows.example, out_type=tf.int64) - 1, 0))
  span = tf.cast(tf.gather(tf.reshape(window_span, [-1]), tf.minimum(
      flat, tf.size(window_span, out_type=tf.int64) - 1)), tf.int64)
  return best, window, span // length, span % length
