"""Text classification: a dropout + dense head on the encoder's pooled output, softmax over labels."""

from typing import Sequence

import keras
import tensorflow as tf

from tfsft.config import ModelConfig
from tfsft.metrics.classification import classification_metrics
from tfsft.models.encoder import TextEncoder
from tfsft.tasks.base import Task


class ClassificationTask(Task):

  def build_model(self, encoder: TextEncoder, config: ModelConfig,
                  label_names: Sequence[str]) -> keras.Model:
    inputs = encoder.inputs()
    pooled = encoder.backbone(inputs)["pooled_output"]
    pooled = keras.layers.Dropout(config.dropout, name="head_dropout")(pooled)
    # float32 logits even under mixed precision: softmax and the loss need the range.
    logits = keras.layers.Dense(len(label_names), dtype="float32", name="logits")(pooled)
    return keras.Model(inputs, logits, name=f"{self.name.replace('/', '_')}_classifier")

  def loss(self):
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  def training_metrics(self):
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

  def evaluate(self, model, encoder, split, label_names):
    logits = split.predict(model)
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1).numpy()
    return classification_metrics(split.targets, probabilities, label_names)

  def text_summaries(self, results, label_names):
    return {"eval/confusion_matrix": _markdown_matrix(results["confusion_matrix"], label_names)}

  def predict(self, model, encoder, features, label_names):
    names = tf.constant(list(label_names))
    scores = tf.nn.softmax(tf.cast(model(features, training=False), tf.float32), axis=-1)
    batch_size = tf.shape(scores)[0]
    return {
        "scores": scores,
        # TF Serving's classify API pairs `classes` with `scores` column by column.
        "classes": tf.tile(names[tf.newaxis, :], [batch_size, 1]),
        "label": tf.gather(names, tf.argmax(scores, axis=-1)),
    }

  def extra_signatures(self, predict_text, label_names):
    """`classify`: TF Serving's Classify API (REST `:classify`) sends serialized tf.Examples in one
    input named `inputs` (with a bytes feature per input name) and reads `classes` and `scores`."""

    def classify(inputs):
      features = tf.io.parse_example(
          inputs, {name: tf.io.FixedLenFeature([], tf.string) for name in self.input_names})
      outputs = predict_text(*(features[name] for name in self.input_names))
      return {"classes": outputs["classes"], "scores": outputs["scores"]}

    return {"classify": (classify, [tf.TensorSpec([None], tf.string, name="inputs")])}


def _markdown_matrix(matrix, label_names):
  """Rows are true labels, columns predictions; TensorBoard renders the markdown table."""
  header = "| true \\ predicted | " + " | ".join(label_names) + " |"
  rule = "|---" * (len(label_names) + 1) + "|"
  rows = [f"| {name} | " + " | ".join(str(count) for count in row) + " |"
          for name, row in zip(label_names, matrix)]
  return "\n".join([header, rule] + rows)
