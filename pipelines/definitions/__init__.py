"""The pipelines `python -m pipelines.run --pipeline=NAME` knows, by name."""

from pipelines.definitions.classification import classification_pipeline

# name -> (tfsft task whose sources ExampleGen reads, model family)
CLASSIFICATION = {
    "imdb_bert": ("imdb", "bert"),
    "sst2_bert": ("glue/sst2", "bert"),
    "text_classification_bert": ("text_classification", "bert"),
}


def names():
  return sorted(CLASSIFICATION)


def create(name: str, config, **options):
  """The pipeline `name` over the run settings `config` (a TrainConfig from tfsft.train's flags)."""
  task, model = CLASSIFICATION[name]
  return classification_pipeline(name, task, model, config, **options)
