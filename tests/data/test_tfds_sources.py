"""Every task's TFDS source, read through tfsft's one TFDS loader with TFDS's own mock data
(examples generated from each builder's feature spec, no download): the rows come out in the shape
the task trains on, and the log names the TFDS data set."""

import re

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfsft.config import DataConfig
from tfsft.data import conll, imdb, sentence_pairs, squad
from tfsft.tasks.glue import glue_task

SOURCES = {
    "imdb_reviews": lambda: imdb.load(DataConfig(), 0),
    "glue/sst2": lambda: glue_task("sst2").load_data(DataConfig(), 0),
    "glue/mnli": lambda: glue_task("mnli").load_data(DataConfig(), 0),
    "glue/stsb": lambda: glue_task("stsb").load_data(DataConfig(), 0),
    "conll2003": lambda: conll.load(DataConfig(), 0, tfds_name="conll2003"),
    "ted_hrlr_translate/pt_to_en": lambda: sentence_pairs.load(DataConfig(), 0),
    "squad/v1.1": lambda: squad.load(DataConfig(), 0),
}


@pytest.fixture(scope="module")
def loaded():
  with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
    return {name: (data, list(data.train.take(2)))
            for name, data in ((name, load()) for name, load in SOURCES.items())}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_source_is_named_and_has_a_validation_split(loaded, name):
  data, rows = loaded[name]
  assert data.source.startswith(f"TFDS {name} ")
  assert "validation" in data.evaluation_splits()
  assert len(rows) == 2


def test_rows_have_each_task_shape(loaded):
  def kinds(name):
    text, target = loaded[name][1][0]
    return ([t.dtype for t in text] if isinstance(text, tuple) else text.dtype), target.dtype
  assert kinds("imdb_reviews") == (tf.string, tf.int32)
  assert kinds("glue/sst2") == (tf.string, tf.int32)
  assert kinds("glue/mnli") == ([tf.string, tf.string], tf.int32)
  assert kinds("glue/stsb") == ([tf.string, tf.string], tf.float32)
  assert kinds("ted_hrlr_translate/pt_to_en") == (tf.string, tf.string)
  assert kinds("squad/v1.1") == ([tf.string, tf.string], tf.string)
  assert "validation_mismatched" in loaded["glue/mnli"][0].evaluation_splits()


# Mock data draws each feature on its own (a sentence's tokens and tags differ in number, answer
# starts are random), so only what tfsft's mapping decides is checked: tag ids index the TFDS tag
# names, answers are byte spans.
def test_conll_tags_are_ids_into_the_tfds_tag_names(loaded):
  data, rows = loaded["conll2003"]
  assert "B-PER" in data.label_names
  for _, tag_ids in rows:
    ids = tag_ids.numpy().decode().split()
    assert ids and all(0 <= int(i) < len(data.label_names) for i in ids)


def test_squad_answers_are_byte_spans(loaded):
  for _, answers in loaded["squad/v1.1"][1]:
    spans = answers.numpy().decode().split()
    assert spans and all(re.fullmatch(r"\d+:\d+", span) for span in spans)
