"""A fine-tuning pipeline for any task whose examples the pipelines store (example_kinds.py:
labeled texts for classifiers, tagged words for NER, questions for SQuAD, conversations for
generative SFT) and any model family:

  ExampleGen -> StatisticsGen -> SchemaGen (or ImportSchemaGen) -> ExampleValidator -> Trainer
  -> Evaluator -> InfraValidator -> Pusher

Run (IMDb slice, real MiniLM checkpoint, about 10 minutes on 2 CPU cores):
  python -m pipelines.run --pipeline=imdb_bert --pipeline_root=runs/imdb_pipeline \
      --serving_dir=serving/imdb --data_path=../shared/data/imdb/aclImdb_train.tar.gz \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --max_train_examples=1000 \
      --max_eval_examples=200 --max_seq_length=128 --num_epochs=1

Generative SFT (SmolLM2-135M-Instruct taught English -> French from fra.txt pairs):
  python -m pipelines.run --pipeline=instruction_tuning_causal_lm \
      --pipeline_root=runs/fra_pipeline --serving_dir=serving/fra \
      --init_checkpoint=../shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct-Q4_1.gguf \
      --text_from_task=translation --data_path=<folder with train.tsv and validation.tsv> \
      --prompt_template="Translate to French: {source}" --max_seq_length=64 --batch_size=8 \
      --learning_rate=2e-4 --max_new_tokens=32
Measured (docs/benchmarks.md): 800 pairs, 100 steps, BLEU 10.9 on 100 held-out sentences through
the export, against 5.1 for a 400-pair run it replaced as the served model.
"""

import dataclasses
from typing import Dict, Optional

from pipelines.component import Pipeline
from pipelines.components.evaluator import Evaluator
from pipelines.components.example_gen import ExampleGen
from pipelines.components.example_validator import ExampleValidator
from pipelines.components.infra_validator import InfraValidator
from pipelines.components.pusher import Pusher
from pipelines.components.schema_gen import ImportSchemaGen, SchemaGen
from pipelines.components.statistics_gen import StatisticsGen
from pipelines.components.trainer import Trainer
from tfsft.config import DataConfig, RuntimeConfig, TrainConfig


def fine_tuning_pipeline(name: str, task: str, model: str, config: TrainConfig,
                         schema_file: Optional[str] = None,
                         eval_thresholds: Optional[Dict[str, float]] = None,
                         eval_min_change: Optional[Dict[str, float]] = None,
                         split_feature: Optional[str] = None) -> Pipeline:
  example_gen = ExampleGen(task=task, data=dataclasses.asdict(config.data), seed=config.runtime.seed,
                           split_feature=split_feature)
  examples = example_gen.outputs["examples"]
  statistics_gen = StatisticsGen(examples=examples)
  statistics = statistics_gen.outputs["statistics"]
  schema_gen = (ImportSchemaGen(schema_file=schema_file) if schema_file
                else SchemaGen(statistics=statistics, examples=examples))
  schema = schema_gen.outputs["schema"]
  example_validator = ExampleValidator(statistics=statistics, schema=schema)
  trainer = Trainer(examples=examples, schema=schema,
                    train_config=_training_settings(config, task, model).to_dict())
  model_artifact = trainer.outputs["model"]
  evaluator = Evaluator(examples=examples, model=model_artifact,
                        thresholds=dict(eval_thresholds or {}),
                        min_change=None if eval_min_change is None else dict(eval_min_change))
  infra_validator = InfraValidator(model=model_artifact, examples=examples)
  pusher = Pusher(model=model_artifact, model_blessing=evaluator.outputs["blessing"],
                  infra_blessing=infra_validator.outputs["infra_blessing"])
  return Pipeline(name, [example_gen, statistics_gen, schema_gen, example_validator, trainer,
                         evaluator, infra_validator, pusher])


def _training_settings(config: TrainConfig, task: str, model: str) -> TrainConfig:
  """The run settings the Trainer records: without what ExampleGen read (the examples artifact
  stands for it) and the folders the runner assigns, so they do not change its cache key."""
  defaults = DataConfig()
  data = dataclasses.replace(
      config.data, data_path=None, tfds_name=None, tfds_data_dir=None, max_train_examples=None,
      max_eval_examples=None, validation_fraction=defaults.validation_fraction,
      test_fraction=defaults.test_fraction, text_from_task=None, prompt_template=None)
  runtime = dataclasses.replace(config.runtime, model_dir=RuntimeConfig.model_dir,
                                export_dir=None)
  chosen = config.model.model or model
  # The user's task: the Trainer trains the one its examples' kind names (components/trainer.py).
  return dataclasses.replace(config, task=task, data=data, runtime=runtime,
                             model=dataclasses.replace(config.model, model=chosen))
