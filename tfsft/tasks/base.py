"""The task contract (after TF Model Garden's `official/core/base_task.py`).

A task owns its data sources, how raw (text, target) pairs become model inputs, its head, loss and
metrics, how a model is evaluated, and what its SavedModel signatures return. Model families own
everything below the head (see models/encoder.py); `model_kind` says which kind of family a task
can sit on.
"""

import abc
import dataclasses
import functools
from typing import Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfsft.config import DataConfig, ModelConfig
from tfsft.data import pipeline
from tfsft.data.splits import LabeledTextSplits
from tfsft.models.encoder import TextEncoder


@dataclasses.dataclass
class EvaluationSplit:
  """One evaluation split, prepared once and scored many times."""
  examples: tf.data.Dataset  # the raw (inputs, target) examples
  batches: tf.data.Dataset  # (model inputs, targets) batches, cached after tokenization
  targets: np.ndarray  # the raw targets in dataset order: labels, or target texts
  steps: int  # batches in `batches` (explicit: filtered datasets have unknown length)

  @functools.cached_property
  def texts(self) -> np.ndarray:
    """The raw single-text inputs in dataset order, read once on first use (translation's
    sources)."""
    return pipeline.column_of(self.examples, 0)


class Task(abc.ABC):
  name: str
  model_kind = "encoder"  # the ModelFamily.kind this task needs
  needs_word_pieces = False  # labels per word or character: the family must be ModelFamily.word_pieces
  # What a run of this task uses when --model / --max_seq_length are not given.
  default_model = "bert"
  default_max_seq_length = 128

  def __init__(self, data_config: DataConfig = DataConfig()):
    self.data_config = data_config  # the run's data flags: some tasks take columns from them

  @property
  def input_names(self) -> Sequence[str]:
    """The raw string inputs of one example, as the SavedModel's signatures name them. One name:
    each split yields (text, target); two: ((text, text_pair), target)."""
    return ("text",)

  def check_flags(self, config) -> None:
    """Refuses flag values this task cannot work with (a UserError), before anything is read."""

  @abc.abstractmethod
  def load_data(self, config: DataConfig, seed: int) -> LabeledTextSplits:
    """Train / validation / (optional) test splits of raw (text, target) examples."""

  def model_inputs(self, encoder: TextEncoder, text: tf.Tensor, target: tf.Tensor):
    """A batch of raw (text, target) -> (features, targets) for `fit`; runs in tf.data."""
    return encoder.preprocess(text), target

  @abc.abstractmethod
  def build_model(self, encoder: TextEncoder, config: ModelConfig,
                  label_names: Sequence[str]) -> keras.Model:
    """features -> the head's outputs."""

  @abc.abstractmethod
  def loss(self) -> keras.losses.Loss:
    ...

  @abc.abstractmethod
  def training_metrics(self) -> list:
    """Cheap Keras metrics for the progress bar and TensorBoard; `evaluate` gives the real scores."""

  @abc.abstractmethod
  def evaluate(self, model: keras.Model, encoder: TextEncoder, split: EvaluationSplit,
               label_names) -> Dict:
    """Evaluation results (JSON-serialisable) of a model on one split."""

  def text_summaries(self, results: Dict, label_names) -> Dict[str, str]:
    """TensorBoard text (markdown) for one split's results: tag -> text."""
    return {}

  def text_features(self, encoder: TextEncoder, texts: Sequence[tf.Tensor]) -> Dict[str, tf.Tensor]:
    """The serving inputs (a tf.string [batch] per `input_names`) -> features, as the `tokenize`
    signature returns them."""
    return encoder.preprocess(texts[0] if len(texts) == 1 else tuple(texts))

  def predict_text(self, model: keras.Model, encoder: TextEncoder, texts: Sequence[tf.Tensor],
                   label_names) -> Dict[str, tf.Tensor]:
    """The serving inputs -> what `serving_default` returns; traced into the SavedModel."""
    return self.predict(model, encoder, self.text_features(encoder, texts), label_names)

  @abc.abstractmethod
  def predict(self, model: keras.Model, encoder: TextEncoder, features: Dict[str, tf.Tensor],
              label_names) -> Dict[str, tf.Tensor]:
    """Features -> the named tensors that `predict_token_ids` (and, unless `predict_text` says
    otherwise, `serving_default`) returns; traced into the SavedModel."""

  def extra_signatures(self, predict_text, label_names) -> Dict:
    """More serving signatures: name -> (function, input_signature). `predict_text` maps the
    tf.string [batch] inputs (one per `input_names`) to `predict`'s outputs."""
    return {}
