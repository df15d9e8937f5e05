"""Frozen run configuration: what `tfsft.train` flags become, and what a model_dir remembers of its run.

Each setting is declared once, here: its default and, where not every number makes sense, its
range (`_in`). "Unset" is None, never 0: a task or model family fills in its own default, and a
value outside the range is refused by `check_ranges` before anything is read or written.
"""

import dataclasses
import json
import math
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Range:
  """The numbers a setting accepts; `what` completes "--flag=value must be ..."."""
  what: str
  low: float = -math.inf
  high: float = math.inf
  low_open: bool = False  # value > low instead of value >= low
  high_open: bool = False

  def contains(self, value) -> bool:
    above = value > self.low if self.low_open else value >= self.low
    below = value < self.high if self.high_open else value <= self.high
    return above and below


POSITIVE = Range("positive", low=0, low_open=True)
AT_LEAST_ONE = Range("at least 1", low=1)
NOT_NEGATIVE = Range("0 or more", low=0)
OPEN_FRACTION = Range("between 0 and 1", low=0, high=1, low_open=True, high_open=True)
RATIO = Range("at least 0 and below 1", low=0, high=1, high_open=True)


def _in(valid: Range, default=None):
  """A field whose values must lie in `valid` (None, where allowed, means unset)."""
  return dataclasses.field(default=default, metadata={"range": valid})


@dataclasses.dataclass(frozen=True)
class DataConfig:
  data_path: Optional[str] = None  # local files; None means the task's TFDS data set
  tfds_data_dir: Optional[str] = None
  tfds_name: Optional[str] = None  # None: the task's default TFDS data set
  # Carved from train by a seeded hash of each example's text; test only from sources without one.
  validation_fraction: float = _in(OPEN_FRACTION, 0.1)
  test_fraction: float = _in(OPEN_FRACTION, 0.1)
  max_train_examples: Optional[int] = _in(AT_LEAST_ONE)
  max_eval_examples: Optional[int] = _in(AT_LEAST_ONE)
  # Training batches of rows of similar length (else rows in shuffled order); either way each
  # batch is cut to its longest row. None: the task's default (Task.default_group_by_length).
  group_by_length: Optional[bool] = None
  # Batch widths are rounded up to a multiple of this. None: 8 on GPUs and TPUs, 1 (exact widths)
  # on CPUs (data/pipeline.py, default_pad_to_multiple).
  pad_to_multiple: Optional[int] = _in(AT_LEAST_ONE)
  # Users' own files (text_classification): which columns hold what.
  text_column: str = "text"
  text_pair_column: Optional[str] = None
  label_column: str = "label"
  regression: bool = False  # numeric labels: a regression head instead of classes
  # Extractive question answering (squad).
  version_2_with_negative: bool = False  # SQuAD 2.0: questions may have no answer
  max_query_length: int = _in(AT_LEAST_ONE, 64)  # question word-pieces kept
  doc_stride: int = _in(AT_LEAST_ONE, 128)  # word-pieces between a long context's window starts
  # Causal LMs (instruction_tuning, language_modeling).
  text_from_task: Optional[str] = None  # train on another task's examples (e.g. translation)
  prompt_template: Optional[str] = None  # "Translate to French: {source}": (text, target) -> turns
  train_on_prompt: bool = False  # loss on every token, not only the assistant's / completion's
  packing: bool = False  # several examples per --max_seq_length row, attention kept apart
  long_examples: str = "truncate"  # longer than --max_seq_length: truncate the prompt side, or drop


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  model: Optional[str] = None  # None: the task's default family (Task.default_model)
  init_checkpoint: Optional[str] = None
  max_seq_length: Optional[int] = _in(AT_LEAST_ONE)  # None: Task.default_max_seq_length
  dropout: float = _in(RATIO, 0.1)
  # Only the from-scratch LSTM reads these.
  vocab_size: int = _in(AT_LEAST_ONE, 20000)
  embedding_dim: int = _in(AT_LEAST_ONE, 128)
  lstm_units: int = _in(AT_LEAST_ONE, 128)
  pretrained_embeddings: Optional[str] = None  # word2vec / GloVe text file for the Embedding layer
  pretrained_target_embeddings: Optional[str] = None  # lstm_seq2seq: the decoder's Embedding layer
  freeze_embeddings: bool = False
  # Only lstm_seq2seq reads these.
  bidirectional: bool = True
  attention: str = "luong"
  beam_size: int = _in(AT_LEAST_ONE, 4)  # 1: greedy decoding
  max_decode_length: Optional[int] = _in(AT_LEAST_ONE)  # None: max_seq_length
  # Only squad reads these: how answers are picked from the start/end logits.
  max_answer_length: int = _in(AT_LEAST_ONE, 30)  # word-pieces
  n_best_size: int = _in(AT_LEAST_ONE, 20)
  # SQuAD 2.0: abstain when null beats the best span by more.
  null_score_diff_threshold: float = 0.0
  # Only causal_lm reads these: the prompt format, and how text is generated (names as in
  # Hugging Face's GenerationConfig; temperature 0 is greedy decoding).
  chat_template: Optional[str] = None  # a built-in name, a Jinja file; None: the checkpoint's
  max_new_tokens: int = _in(AT_LEAST_ONE, 64)
  temperature: float = _in(NOT_NEGATIVE, 0.0)
  top_k: int = _in(NOT_NEGATIVE, 0)  # 0: no top-k cut
  top_p: float = _in(Range("above 0 and at most 1", low=0, high=1, low_open=True), 1.0)

  # Where initial weights come from; a resumed run takes all weights from its checkpoint instead.
  INITIALIZERS = ("init_checkpoint", "pretrained_embeddings", "pretrained_target_embeddings")
  # How a trained seq2seq model decodes; free to change between runs and at export.
  DECODING = ("beam_size", "max_decode_length", "max_answer_length", "n_best_size",
              "null_score_diff_threshold", "max_new_tokens", "temperature", "top_k", "top_p")

  def architecture(self) -> "ModelConfig":
    """This config without initial-weight sources and decoding settings: what must match to
    resume a run."""
    defaults = ModelConfig()
    return dataclasses.replace(self, **{name: None for name in self.INITIALIZERS},
                               **{name: getattr(defaults, name) for name in self.DECODING})

  @property
  def decode_length(self) -> int:
    return self.max_seq_length if self.max_decode_length is None else self.max_decode_length


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  learning_rate: Optional[float] = _in(POSITIVE)  # None: the model family's default
  warmup_ratio: float = _in(RATIO, 0.1)
  weight_decay: float = _in(NOT_NEGATIVE, 0.01)
  clip_global_norm: float = _in(NOT_NEGATIVE, 1.0)  # 0: no clipping
  adam_epsilon: float = _in(POSITIVE, 1e-6)


@dataclasses.dataclass(frozen=True)
class PeftConfig:
  """Parameter-efficient fine-tuning of a transformer family's backbone (tfsft/peft): the base
  weights stay frozen; LoRA updates or bottleneck adapters train, with the task head."""
  peft: str = "none"  # none (full fine-tuning), lora or adapter
  lora_rank: int = _in(AT_LEAST_ONE, 8)
  lora_alpha: float = _in(POSITIVE, 16.0)  # the update is scaled by alpha / rank
  lora_rslora: bool = False  # scale by alpha / sqrt(rank) instead (rank-stabilized LoRA)
  lora_dropout: float = _in(RATIO, 0.05)  # on the update's input
  lora_targets: Optional[str] = None  # comma-separated roles; None: the family's default
  adapter_size: int = _in(AT_LEAST_ONE, 64)  # bottleneck width
  base_dtype: str = "float32"  # bfloat16: frozen weights stored and run in bfloat16

  METHODS = ("none", "lora", "adapter")
  BASE_DTYPES = ("float32", "bfloat16")

  @property
  def enabled(self) -> bool:
    return self.peft != "none"


DEFAULT_EPOCHS = 3  # the BERT paper's fine-tuning recipe uses 2-4


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
  model_dir: str = "model_dir"
  export_dir: Optional[str] = None  # None: saved_models/<task>
  batch_size: int = _in(AT_LEAST_ONE, 32)  # global; each replica gets batch_size / num_replicas
  num_epochs: Optional[float] = _in(POSITIVE)  # None: DEFAULT_EPOCHS, unless train_steps is set
  train_steps: Optional[int] = _in(AT_LEAST_ONE)
  eval_every_steps: Optional[int] = _in(AT_LEAST_ONE)  # None: once per pass over the training data
  checkpoint_every_steps: int = _in(AT_LEAST_ONE, 100)
  log_every_steps: int = _in(AT_LEAST_ONE, 10)
  # Training steps per call into the compiled step function (Keras' steps_per_execution).
  steps_per_execution: int = _in(AT_LEAST_ONE, 1)
  # Causal LMs: validation examples answered by generation and scored against their references.
  eval_generate_examples: int = _in(NOT_NEGATIVE, 32)
  strategy: str = "auto"
  tpu: Optional[str] = None
  cpu_logical_devices: int = _in(NOT_NEGATIVE, 0)
  mixed_precision: str = "auto"  # tfsft/precision.py; resolved before the run is recorded
  seed: int = 42
  export: bool = True


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  task: str
  data: DataConfig = DataConfig()
  model: ModelConfig = ModelConfig()
  optimizer: OptimizerConfig = OptimizerConfig()
  runtime: RuntimeConfig = RuntimeConfig()
  peft: PeftConfig = PeftConfig()

  def to_dict(self):
    return dataclasses.asdict(self)

  def to_json(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values):
    return cls(
        task=values["task"],
        # Runs recorded before --pad_to_multiple rounded every batch up to a multiple of 8.
        data=DataConfig(**{"pad_to_multiple": 8, **values["data"]}),
        model=ModelConfig(**values["model"]),
        optimizer=OptimizerConfig(**values["optimizer"]),
        runtime=RuntimeConfig(**values["runtime"]),
        peft=PeftConfig(**values.get("peft", {})),  # runs recorded before PEFT have none
    )


def check_ranges(config: TrainConfig) -> Optional[str]:
  """The first setting outside its declared range (or not a finite number), as an error message
  naming the flag; None when all are fine. Unset (None) settings are skipped."""
  for part in (config.data, config.model, config.optimizer, config.runtime, config.peft):
    for field in dataclasses.fields(part):
      value = getattr(part, field.name)
      if isinstance(value, bool) or not isinstance(value, (int, float)):
        continue  # unset (None), a name or a switch
      if not math.isfinite(value):
        return f"--{field.name}={value} is not a number: pass a finite value"
      valid = field.metadata.get("range")
      if valid and not valid.contains(value):
        unset = ", or leave it out for the default" if field.default is None else ""
        return f"--{field.name}={value} must be {valid.what}{unset}"
  return None
