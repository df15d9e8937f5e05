"""Frozen run configuration: what `tfsft.train` flags become, and what a model_dir remembers of its run."""

import dataclasses
import json
from typing import Optional


@dataclasses.dataclass(frozen=True)
class DataConfig:
  data_path: Optional[str] = None  # local files; None means the task's TFDS data set
  tfds_data_dir: Optional[str] = None
  tfds_name: Optional[str] = None  # None: the task's default TFDS data set
  validation_fraction: float = 0.1  # carved from train by a seeded hash of each example's text
  test_fraction: float = 0.1  # carved the same way, only from sources that have no test split
  max_train_examples: Optional[int] = None
  max_eval_examples: Optional[int] = None
  # Users' own files (text_classification): which columns hold what.
  text_column: str = "text"
  text_pair_column: Optional[str] = None
  label_column: str = "label"
  regression: bool = False  # numeric labels: a regression head instead of classes
  # Extractive question answering (squad).
  version_2_with_negative: bool = False  # SQuAD 2.0: questions may have no answer
  max_query_length: int = 64  # question word-pieces kept
  doc_stride: int = 128  # word-pieces between the starts of a long context's windows


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  model: str = "bert"
  init_checkpoint: Optional[str] = None
  max_seq_length: int = 128
  dropout: float = 0.1
  # Only the from-scratch LSTM reads these.
  vocab_size: int = 20000
  embedding_dim: int = 128
  lstm_units: int = 128
  pretrained_embeddings: Optional[str] = None  # word2vec / GloVe text file for the Embedding layer
  pretrained_target_embeddings: Optional[str] = None  # lstm_seq2seq: the decoder's Embedding layer
  freeze_embeddings: bool = False
  # Only lstm_seq2seq reads these.
  bidirectional: bool = True
  attention: str = "luong"
  beam_size: int = 4  # 1: greedy decoding
  max_decode_length: Optional[int] = None  # None: max_seq_length
  # Only squad reads these: how answers are picked from the start/end logits.
  max_answer_length: int = 30  # word-pieces
  n_best_size: int = 20
  null_score_diff_threshold: float = 0.0  # SQuAD 2.0: abstain when null beats the best span by more

  # Where initial weights come from; a resumed run takes all weights from its checkpoint instead.
  INITIALIZERS = ("init_checkpoint", "pretrained_embeddings", "pretrained_target_embeddings")
  # How a trained seq2seq model decodes; free to change between runs and at export.
  DECODING = ("beam_size", "max_decode_length", "max_answer_length", "n_best_size",
              "null_score_diff_threshold")

  def architecture(self) -> "ModelConfig":
    """This config without initial-weight sources and decoding settings: what must match to
    resume a run."""
    defaults = ModelConfig()
    return dataclasses.replace(self, **{name: None for name in self.INITIALIZERS},
                               **{name: getattr(defaults, name) for name in self.DECODING})

  @property
  def decode_length(self) -> int:
    return self.max_decode_length or self.max_seq_length


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  learning_rate: Optional[float] = None  # None: the model family's default
  warmup_ratio: float = 0.1
  weight_decay: float = 0.01
  clip_global_norm: float = 1.0
  adam_epsilon: float = 1e-6


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
  model_dir: str = "model_dir"
  export_dir: Optional[str] = None  # None: saved_models/<task>
  batch_size: int = 32  # global; each replica gets batch_size / num_replicas
  num_epochs: Optional[float] = None
  train_steps: Optional[int] = None
  eval_every_steps: Optional[int] = None  # None: once per pass over the training data
  checkpoint_every_steps: int = 100
  log_every_steps: int = 10
  strategy: str = "auto"
  tpu: Optional[str] = None
  cpu_logical_devices: int = 0
  mixed_precision: str = "none"
  seed: int = 42
  export: bool = True


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  task: str
  data: DataConfig = DataConfig()
  model: ModelConfig = ModelConfig()
  optimizer: OptimizerConfig = OptimizerConfig()
  runtime: RuntimeConfig = RuntimeConfig()

  def to_dict(self):
    return dataclasses.asdict(self)

  def to_json(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values):
    return cls(
        task=values["task"],
        data=DataConfig(**values["data"]),
        model=ModelConfig(**values["model"]),
        optimizer=OptimizerConfig(**values["optimizer"]),
        runtime=RuntimeConfig(**values["runtime"]),
    )
