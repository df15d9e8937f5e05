"""Text regression: a dropout + dense head with one output on the encoder's pooled output, MSE loss,
Pearson and Spearman correlation (GLUE STS-B's metrics)."""

import keras
import numpy as np
import tensorflow as tf
from scipy import stats

from tfsft.tasks.base import Task


class RegressionTask(Task):

  def build_model(self, encoder, config, label_names):
    inputs = encoder.inputs()
    pooled = encoder.backbone(inputs)["pooled_output"]
    pooled = keras.layers.Dropout(config.dropout, name="head_dropout")(pooled)
    score = keras.layers.Dense(1, dtype="float32", name="score")(pooled)
    return keras.Model(inputs, keras.ops.squeeze(score, axis=-1),
                       name=f"{self.name.replace('/', '_')}_regressor")

  def loss(self):
    return keras.losses.MeanSquaredError()

  def training_metrics(self):
    return [keras.metrics.MeanAbsoluteError(name="mae")]

  def evaluate(self, model, encoder, split, label_names):
    predictions = split.predict(model).astype(np.float64).reshape(-1)
    targets = np.asarray(split.targets, np.float64)
    constant = np.std(predictions) == 0 or np.std(targets) == 0  # correlation is undefined
    return {
        "examples": int(len(targets)),
        "pearson": 0.0 if constant else float(stats.pearsonr(predictions, targets)[0]),
        "spearman": 0.0 if constant else float(stats.spearmanr(predictions, targets)[0]),
        "mse": float(np.mean((predictions - targets) ** 2)),
    }

  def predict(self, model, encoder, features, label_names):
    return {"score": tf.cast(model(features, training=False), tf.float32)}
