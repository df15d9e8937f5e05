"""The contract between model families and tasks.

A model family turns raw strings into features (`preprocess`, in-graph, used by tf.data and by the
serving signatures alike) and features into representations (`backbone`, a Keras model whose output
dict has `pooled_output` [batch, hidden] and `sequence_output` [batch, time, hidden]). Tasks put
their heads on those outputs and never need to know which family they are talking to.
"""

import dataclasses
import json
from typing import Callable, Dict, Optional

import keras
import tensorflow as tf


@dataclasses.dataclass
class TextEncoder:
  preprocessor: keras.layers.Layer  # tf.string [batch] -> tensor or dict of tensors
  backbone: keras.Model
  feature_names: tuple
  description: str  # where the weights came from, for the log
  # Whether `preprocessor` takes a (text, text_pair) tuple itself (BERT: segment ids); otherwise
  # pairs are joined into one text.
  takes_pairs: bool = False

  def preprocess(self, text) -> Dict[str, tf.Tensor]:
    """Raw text, or a (text, text_pair) tuple, -> features as int32: keras-hub's bool padding_mask
    breaks MirroredStrategy's first-batch AddN reduction, and TF Serving clients find int32 easier
    to send."""
    if isinstance(text, tuple) and self.takes_pairs:
      # By keyword: keras-hub preprocessors read a positional (a, b) tuple as (x, y) and drop b.
      features = self.preprocessor(x=text)
    else:
      features = self.preprocessor(join_pair(text))
    if not isinstance(features, dict):
      features = {self.feature_names[0]: features}
    return {name: tf.cast(features[name], tf.int32) for name in self.feature_names}

  def real_tokens(self, features: Dict[str, tf.Tensor]) -> tf.Tensor:
    """bool [batch, length]: True at real tokens, False at padding, which is always at the end and
    masked out by the backbone (BERT's padding_mask; id 0, the LSTM's mask_zero)."""
    if "padding_mask" in features:
      return features["padding_mask"] > 0
    return features[self.feature_names[0]] != 0

  def inputs(self) -> Dict[str, keras.KerasTensor]:
    return {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in self.feature_names}


@dataclasses.dataclass(frozen=True)
class ModelFamily:
  """How to make (`build`), persist (`save`) and remake (`restore`) one family's encoder."""
  build: Callable  # (ModelConfig, training (text, target) dataset) -> TextEncoder
  save: Callable  # (TextEncoder, directory) -> None; architecture and vocabulary, not weights
  restore: Callable  # (ModelConfig, directory) -> TextEncoder with fresh weights
  default_learning_rate: float
  # "encoder": a TextEncoder for task heads; "seq2seq": an EncoderDecoder that generates text;
  # "causal_lm": a CausalLanguageModel (models/causal_lm.py).
  kind: str = "encoder"
  # Whether `preprocessor.tokenizer` is a WordPiece tokenizer with [CLS]/[SEP]/[PAD] ids, which
  # token-level tasks need to align word labels with pieces (models/word_pieces.py).
  word_pieces: bool = False
  # (ModelConfig) -> None: refuses flags this family cannot use, with a UserError that says why.
  check_flags: Callable = lambda config: None
  # (encoder) -> its keras-hub transformer backbone, which --peft wraps; None: no --peft.
  transformer: Optional[Callable] = None
  # LoRA and adapters train few weights from zero: they want a larger step than full fine-tuning.
  peft_learning_rate: Optional[float] = None
  # --peft=lora without --lora_targets: these roles (tfsft/peft/injection.ROLES).
  lora_targets: tuple = ("query", "value")
  # --mixed_precision=auto trains in mixed_bfloat16 where the hardware has it: only for families
  # whose accuracy in bfloat16 was measured against float32 (docs/benchmarks.md).
  bfloat16_by_default: bool = False


def refuse_init_checkpoint(config) -> None:
  """For families trained from scratch: --init_checkpoint would be silently unused."""
  if config.init_checkpoint:
    from tfsft.errors import UserError
    raise UserError(f"--init_checkpoint is for --model=bert or causal_lm; --model={config.model} "
                    "trains from scratch (--pretrained_embeddings can start its embeddings)")


def join_pair(text) -> tf.Tensor:
  """One text from a (text, text_pair) tuple, for encoders without segments; a single text as is."""
  if not isinstance(text, tuple):
    return text
  return tf.strings.join(list(text), separator=" | ")


def write_json(path: str, value):
  with open(path, "w") as handle:
    json.dump(value, handle, indent=2)


def read_json(path: str):
  with open(path) as handle:
    return json.load(handle)
