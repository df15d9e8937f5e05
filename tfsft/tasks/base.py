"""The task contract (after TF Model Garden's `official/core/base_task.py`).

A task owns its data sources, how raw (text, target) pairs become model inputs, its head, loss and
metrics, how a model is evaluated, and what its SavedModel signatures return. Model families own
everything below the head (see models/encoder.py); `model_kind` says which kind of family a task
can sit on.
"""

import abc
import contextlib
import dataclasses
import functools
import math
from typing import Callable, Dict, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfsft.config import DataConfig, ModelConfig, TrainConfig
from tfsft.data import pipeline
from tfsft.data.splits import LabeledTextSplits
from tfsft.errors import UserError
from tfsft.models.encoder import TextEncoder
from tfsft.serving import signatures


@dataclasses.dataclass
class EvaluationSplit:
  """One evaluation split, prepared once and scored many times."""
  examples: tf.data.Dataset  # the raw (inputs, target) examples
  # (model inputs, targets) batches, tokenized once; None for tasks that score raw examples.
  batches: Optional[tf.data.Dataset]
  targets: np.ndarray  # the raw targets in dataset order: labels, or target texts
  steps: int  # batches in `batches` (explicit: filtered datasets have unknown length)
  # The dataset position of each row of `batches`, when they are sorted by length; None: in order.
  order: Optional[np.ndarray] = None

  @functools.cached_property
  def texts(self) -> np.ndarray:
    """The raw single-text inputs in dataset order, read once on first use (translation's
    sources)."""
    return pipeline.column_of(self.examples, 0)

  def predict(self, model: keras.Model) -> np.ndarray:
    """The model's outputs for every example (rows of equal shape), in dataset order."""
    with _one_step_per_execution(model):
      outputs = np.asarray(model.predict(self.batches, steps=self.steps, verbose=0))
    if self.order is None:
      return outputs
    restored = np.empty_like(outputs)
    restored[self.order] = outputs
    return restored


@contextlib.contextmanager
def _one_step_per_execution(model: keras.Model):
  """Predictions one batch per call, whatever --steps_per_execution training uses: Keras unrolls
  predict_step once per step of an execution, so N steps would trace the model N times."""
  training_steps, model.steps_per_execution = model.steps_per_execution, 1
  try:
    yield
  finally:
    model.steps_per_execution = training_steps


@dataclasses.dataclass
class TrainingBatches:
  """The training stream: `dataset(seed)` is endless and shuffled by `seed`; one pass over the
  training examples is `steps_per_pass` of its batches (what the step plan counts). `fill` (real
  tokens / positions computed) and `real_tokens_per_batch` say what a step costs in tokens."""
  dataset: Callable[..., tf.data.Dataset]
  steps_per_pass: int
  fill: Optional[float] = None
  real_tokens_per_batch: Optional[float] = None


def check_enough_for_a_batch(count: int, batch_size: int):
  if count < batch_size:
    raise UserError(f"only {count} training examples for --batch_size={batch_size}: lower "
                    "--batch_size or add data")


class Task(abc.ABC):
  name: str
  model_kind = "encoder"  # the ModelFamily.kind this task needs
  needs_word_pieces = False  # labels per word or character: the family must be ModelFamily.word_pieces
  # What a run of this task uses when --model / --max_seq_length are not given.
  default_model = "bert"
  default_max_seq_length = 128
  default_group_by_length = True
  # Whether `model_inputs` gives one row per example; otherwise (SQuAD's context windows) the
  # step plan counts the rows.
  one_row_per_example = True
  # Whether `evaluate` runs the serving path on the raw examples (words and answers are read
  # back from the text) rather than the model on tokenized batches.
  scores_raw_examples = False

  def __init__(self, data_config: DataConfig = DataConfig()):
    self.data_config = data_config  # the run's data flags: some tasks take columns from them

  @property
  def input_names(self) -> Sequence[str]:
    """The raw string inputs of one example, as the SavedModel's signatures name them. One name:
    each split yields (text, target); two: ((text, text_pair), target)."""
    return ("text",)

  @property
  def group_by_length(self) -> bool:
    """--group_by_length, or this task's default when it is not given."""
    setting = self.data_config.group_by_length
    return self.default_group_by_length if setting is None else setting

  @property
  def pad_to_multiple(self) -> int:
    """--pad_to_multiple, or this machine's default when it is not given (a config that
    trainer.with_task_defaults resolved always gives it)."""
    setting = self.data_config.pad_to_multiple
    return pipeline.default_pad_to_multiple() if setting is None else setting

  def check_flags(self, config) -> None:
    """Refuses flag values this task cannot work with (a UserError), before anything is read."""

  @abc.abstractmethod
  def load_data(self, config: DataConfig, seed: int) -> LabeledTextSplits:
    """Train / validation / (optional) test splits of raw (text, target) examples."""

  def model_inputs(self, encoder: TextEncoder, text: tf.Tensor, target: tf.Tensor):
    """A batch of raw (text, target) -> (features, targets) for `fit`; runs in tf.data."""
    return encoder.preprocess(text), target

  def training_batches(self, encoder, examples: tf.data.Dataset, count: int,
                       config: TrainConfig) -> TrainingBatches:
    """Raw training examples (`count` of them) -> batches for `fit`: tokenized in tf.data by
    `model_inputs`, --batch_size rows of similar length each, trimmed to the longest
    (data/pipeline.py). The fill is measured on a sample of the stream."""
    batch_size = config.runtime.batch_size
    check_enough_for_a_batch(count, batch_size)
    to_model_inputs = lambda text, target: self.model_inputs(encoder, text, target)
    rows = count if self.one_row_per_example else pipeline.count_rows(examples, to_model_inputs)
    make = lambda seed: pipeline.training_dataset(examples, to_model_inputs, encoder.real_tokens,
                                                  batch_size, seed, rows, self.pad_to_multiple,
                                                  self.group_by_length)
    fill = pipeline.measure_fill(make(config.runtime.seed + 1), encoder.real_tokens)
    return TrainingBatches(make, steps_per_pass=rows // batch_size, fill=fill.fill,
                           real_tokens_per_batch=fill.real_tokens_per_batch)

  def evaluation_split(self, encoder, examples: tf.data.Dataset, count: int,
                       config: TrainConfig) -> EvaluationSplit:
    """One evaluation split, tokenized once into batches sorted by length (each cut to its
    longest row); `evaluate` scores models on it and `EvaluationSplit.predict` gives outputs back
    in dataset order."""
    targets = pipeline.column_of(examples, 1)
    if self.scores_raw_examples:
      return EvaluationSplit(examples, None, targets, steps=0)
    batch_size = config.runtime.batch_size
    to_model_inputs = lambda text, target: self.model_inputs(encoder, text, target)
    batches = pipeline.length_sorted_batches(examples, to_model_inputs, encoder.real_tokens,
                                             batch_size, self.pad_to_multiple)
    return EvaluationSplit(examples, batches.dataset, targets,
                           steps=math.ceil(count / batch_size), order=batches.order)

  def warmup_inputs(self, validation: tf.data.Dataset) -> Dict[str, list]:
    """A few real serving inputs by name, for the SavedModel's warmup requests."""
    return pipeline.named_inputs(validation.take(4), self.input_names)

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
    """The serving inputs -> what `serving_default` returns; traced into the SavedModel. The
    features are cut to the request's longest text."""
    features = self.text_features(encoder, texts)
    return self.predict(model, encoder, pipeline.cut_to_longest(
        encoder.real_tokens(features), features, self.pad_to_multiple), label_names)

  @abc.abstractmethod
  def predict(self, model: keras.Model, encoder: TextEncoder, features: Dict[str, tf.Tensor],
              label_names) -> Dict[str, tf.Tensor]:
    """Features -> the named tensors that `predict_token_ids` (and, unless `predict_text` says
    otherwise, `serving_default`) returns; traced into the SavedModel."""

  def serving_trackables(self, encoder) -> list:
    """What the SavedModel must hold besides the variables its endpoints capture (lookup tables)."""
    # A preprocessor restored from a model_dir has not run yet, and ExportArchive tracks built
    # layers only.
    encoder.preprocess(tf.constant(["build"]))
    return [encoder.preprocessor]

  def serving_endpoints(self, model: keras.Model, encoder, label_names) -> Dict:
    """The SavedModel's signatures: name -> (function, input_signature)."""
    return signatures.text_task_endpoints(model, encoder, self, label_names)

  def extra_signatures(self, predict_text, label_names) -> Dict:
    """More serving signatures: name -> (function, input_signature). `predict_text` maps the
    tf.string [batch] inputs (one per `input_names`) to `predict`'s outputs."""
    return {}
