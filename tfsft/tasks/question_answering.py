"""Extractive question answering (`squad`): a span head (start and end logits) on BERT's sequence
output, SQuAD v1.1, or v2.0 with unanswerable questions (--version_2_with_negative).

Run (SQuAD JSON files; online, drop --data_path to read TFDS squad/v1.1 or squad/v2.0):
  python -m tfsft.train --task=squad --model=bert --init_checkpoint=../shared/models/all-MiniLM-L6-v2 \
      --data_path=squad/ --max_seq_length=384 --doc_stride=128 --max_query_length=64 \
      --num_epochs=2 --learning_rate=1e-4 --model_dir=runs/squad
Published for comparison (full SQuAD v1.1 dev): BERT-Base 80.8 EM / 88.5 F1 (BERT paper, Table 2).

Long contexts become overlapping windows (models/question_windows.py); a window that does not hold
the whole answer is trained to point at [CLS]. Training batches hold --batch_size windows, and an
epoch is one pass over all the windows. Answers are the best span among the n best
(tasks/answer_spans.py), scored with the official SQuAD scripts shipped in tf-models-official.

Serving: `question` and `context` (string [batch]) -> answer (string; "" when the model abstains,
SQuAD 2.0), answer_start and answer_end (int32 character offsets into the context, end exclusive;
-1 when there is no answer) and score (the answer's probability among the n best).
"""

import keras
import tensorflow as tf

from tfsft.data import squad
from tfsft.errors import UserError
from tfsft.metrics.squad import squad_scores
from tfsft.models.question_windows import answer_positions, encode_windows
from tfsft.tasks.answer_spans import SpanSettings, best_answers
from tfsft.tasks.base import Task

_EVALUATION_BATCH = 32


class SpanLoss(keras.losses.Loss):
  """Mean cross-entropy of the start and the end position (the BERT paper's SQuAD loss)."""

  def call(self, y_true, y_pred):
    y_true = tf.cast(y_true, tf.int32)
    start = keras.losses.sparse_categorical_crossentropy(y_true[:, 0], y_pred[..., 0], from_logits=True)
    end = keras.losses.sparse_categorical_crossentropy(y_true[:, 1], y_pred[..., 1], from_logits=True)
    return (start + end) / 2


def _span_accuracy(y_true, y_pred):
  """1 where both the start and the end position are right."""
  predicted = tf.argmax(y_pred, axis=1, output_type=tf.int32)  # [windows, 2]
  return tf.cast(tf.reduce_all(tf.equal(predicted, tf.cast(y_true, tf.int32)), axis=-1), tf.float32)


class SquadTask(Task):
  name = "squad"
  needs_word_pieces = True
  scores_raw_examples = True  # answers are read back from the context, by character
  # BERT's run_squad.py windows: 384 pieces, --doc_stride=128, --max_query_length=64.
  default_max_seq_length = 384
  one_row_per_example = False  # a long context gives several windows
  _settings = SpanSettings()  # replaced by build_model with the run's flags
  _answerer = None  # (model, traced answer function), reused by every evaluation

  @property
  def input_names(self):
    return ("question", "context")

  def check_flags(self, config):
    data, model = self.data_config, config.model
    room = model.max_seq_length - data.max_query_length - 3
    if room <= 0:
      raise UserError(f"--max_seq_length={model.max_seq_length} leaves no room for context after "
                      f"--max_query_length={data.max_query_length}: raise the first or lower the second")
    if not 0 < data.doc_stride <= room:
      raise UserError(f"--doc_stride={data.doc_stride} must be between 1 and the context room per "
                      f"window ({room} pieces), or windows would skip text")

  def load_data(self, config, seed):
    return squad.load(config, seed)

  def _windows(self, encoder, question, context):
    return encode_windows(encoder.preprocessor.tokenizer, question, context,
                          encoder.preprocessor.sequence_length, self.data_config.max_query_length,
                          self.data_config.doc_stride)

  def model_inputs(self, encoder, text, target):
    question, context = text
    windows = self._windows(encoder, question, context)
    # The first reference answer is the training target ("" when unanswerable: -1, -1).
    first = tf.strings.split(tf.strings.split(target).to_tensor("-1:-1", shape=[None, 1]), ":")
    bounds = tf.strings.to_number(first.to_tensor("-1")[:, 0, :2], tf.int64)
    return windows.features, answer_positions(windows, bounds[:, 0], bounds[:, 1])

  def build_model(self, encoder, config, label_names):
    self._settings = SpanSettings(config.max_answer_length, config.n_best_size,
                                  self.data_config.version_2_with_negative,
                                  config.null_score_diff_threshold)
    inputs = encoder.inputs()
    sequence = encoder.backbone(inputs)["sequence_output"]
    sequence = keras.layers.Dropout(config.dropout, name="head_dropout")(sequence)
    # [windows, length, 2]: start and end logits, float32 even under mixed precision.
    logits = keras.layers.Dense(2, dtype="float32", name="span_logits")(sequence)
    return keras.Model(inputs, logits, name="squad_span_model")

  def loss(self):
    return SpanLoss()

  def training_metrics(self):
    return [keras.metrics.MeanMetricWrapper(_span_accuracy, name="span_accuracy")]

  def evaluate(self, model, encoder, split, label_names):
    if self._answerer is None or self._answerer[0] is not model:
      self._answerer = (model, tf.function(
          lambda question, context: self.predict_text(model, encoder, (question, context), ()),
          reduce_retracing=True))
    predictions, references = [], []
    for (question, context), answers in split.examples.batch(_EVALUATION_BATCH):
      outputs = self._answerer[1](question, context)
      for answer, text, spans in zip(outputs["answer"].numpy(), context.numpy(), answers.numpy()):
        predictions.append(answer.decode("utf-8"))
        references.append([text[start:end].decode("utf-8")
                           for start, end in squad.answer_byte_spans(spans)])
    return squad_scores(predictions, references, self.data_config.version_2_with_negative)

  def text_features(self, encoder, texts):
    windows = self._windows(encoder, *texts)
    return {**windows.features, "window_question": tf.cast(windows.example, tf.int32)}

  def predict_text(self, model, encoder, texts, label_names):
    question, context = texts
    windows = self._windows(encoder, question, context)
    logits = tf.cast(model(windows.features, training=False), tf.float32)
    return best_answers(windows, logits, context, self._settings)

  def predict(self, model, encoder, features, label_names):
    """Token ids in (one window per row), start and end logits out."""
    logits = tf.cast(model(features, training=False), tf.float32)
    return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}
