"""The task contract (after TF Model Garden's `official/core/base_task.py`).

A task owns its data sources, its head, loss and metrics, how its results are scored, and what its
SavedModel signatures return. Model families own everything below the head (see models/encoder.py).
"""

import abc
from typing import Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfsft.config import DataConfig, ModelConfig
from tfsft.data.splits import LabeledTextSplits
from tfsft.models.encoder import TextEncoder


class Task(abc.ABC):
  name: str

  @abc.abstractmethod
  def load_data(self, config: DataConfig, seed: int) -> LabeledTextSplits:
    """Train / validation / (optional) test splits of raw examples."""

  @abc.abstractmethod
  def build_model(self, encoder: TextEncoder, config: ModelConfig,
                  label_names: Sequence[str]) -> keras.Model:
    """features -> the head's outputs."""

  @abc.abstractmethod
  def loss(self) -> keras.losses.Loss:
    ...

  @abc.abstractmethod
  def training_metrics(self) -> list:
    """Cheap Keras metrics for the progress bar; the real scores come from `score`."""

  @abc.abstractmethod
  def score(self, labels: np.ndarray, outputs: np.ndarray, label_names) -> Dict:
    """Evaluation results (JSON-serialisable) from labels and the model's outputs."""

  @abc.abstractmethod
  def serving_outputs(self, outputs: tf.Tensor, label_names) -> Dict[str, tf.Tensor]:
    """The model's outputs -> the named tensors that `serving_default` returns."""

  def extra_signatures(self, predict_text, label_names) -> Dict:
    """More serving signatures: name -> (function, input_signature). `predict_text` maps a
    tf.string [batch] to `serving_outputs`."""
    return {}
