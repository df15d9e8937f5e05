"""The pipelines `python -m pipelines.run --pipeline=NAME` knows, by name."""

from pipelines.definitions.fine_tuning import fine_tuning_pipeline

# name -> (tfsft task whose sources ExampleGen reads, model family)
PIPELINES = {
    "imdb_bert": ("imdb", "bert"),
    "sst2_bert": ("glue/sst2", "bert"),
    "text_classification_bert": ("text_classification", "bert"),
    "conll2003_bert": ("conll2003", "bert"),  # CoNLL files (or TFDS conll2003): entities
    "squad_bert": ("squad", "bert"),  # SQuAD JSON (or TFDS squad/v1.1, v2.0): answer spans
    # Generative SFT: instruction files, or any task's pairs through --text_from_task.
    "instruction_tuning_causal_lm": ("instruction_tuning", "causal_lm"),
}


def names():
  return sorted(PIPELINES)


def create(name: str, config, **options):
  """The pipeline `name` over the run settings `config` (a TrainConfig from tfsft.train's flags)."""
  task, model = PIPELINES[name]
  return fine_tuning_pipeline(name, task, model, config, **options)
