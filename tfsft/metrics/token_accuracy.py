"""Token accuracy that skips the positions a sequence task does not score."""

import keras
import tensorflow as tf


class MaskedTokenAccuracy(keras.metrics.SparseCategoricalAccuracy):
  """Accuracy over the positions whose label is not `ignored_label` (translation: padding id 0;
  token classification: the -1 of [CLS], [SEP], padding and non-first word-pieces)."""

  def __init__(self, ignored_label: int, name="token_accuracy", **kwargs):
    super().__init__(name=name, **kwargs)
    self.ignored_label = ignored_label

  def update_state(self, y_true, y_pred, sample_weight=None):
    del sample_weight
    mask = tf.cast(tf.not_equal(y_true, self.ignored_label), self.dtype)
    # SparseCategoricalAccuracy compares labels as given; the masked positions weigh nothing.
    y_true = tf.maximum(y_true, 0)
    super().update_state(y_true, y_pred, sample_weight=mask)

  def get_config(self):
    return {**super().get_config(), "ignored_label": self.ignored_label}
