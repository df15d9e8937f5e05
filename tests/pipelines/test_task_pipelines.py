"""The NER and question-answering pipelines (`conll2003_bert`, `squad_bert`), run in-process from
the same definitions `pipelines.run` builds, on tiny CoNLL and SQuAD 2.0 files with a tiny BERT:
the examples as lists of words and tags or as TFDS's SQuAD features, their statistics and schema,
the Trainer, the Evaluator's entity F1 and official SQuAD scores through the export, the push."""

import json
import os

import pytest

from pipelines import definitions, runner
from pipelines.components import schema_gen, statistics_gen
from pipelines.scoring import word_tags
from tfsft.config import DataConfig, ModelConfig, OptimizerConfig, RuntimeConfig, TrainConfig
from tfsft.data import conll, squad, tfx_examples
from tiny_assets import squad_document, tagged_sentences, write_conll_folder

pytestmark = pytest.mark.heavy


def _run(name, folder, data, tiny_bert, max_seq_length, train_steps):
  config = TrainConfig(
      task=definitions.PIPELINES[name][0], data=data,
      model=ModelConfig(model="bert", init_checkpoint=tiny_bert, max_seq_length=max_seq_length),
      optimizer=OptimizerConfig(learning_rate=5e-3),
      runtime=RuntimeConfig(batch_size=16, train_steps=train_steps))
  outputs = runner.run(definitions.create(name, config), str(folder / "root"),
                       serving_dir=str(folder / "serving"))
  with open(os.path.join(outputs["Evaluator"]["evaluation"].uri, "metrics.json")) as handle:
    return outputs, json.load(handle)


@pytest.fixture(scope="module")
def conll_run(tiny_bert, tmp_path_factory):
  folder = tmp_path_factory.mktemp("conll_pipeline")
  sentences = tagged_sentences(200)
  data = write_conll_folder(folder / "conll", sentences)
  return (*_run("conll2003_bert", folder, DataConfig(data_path=str(data)), tiny_bert, 16, 80),
          sentences)


def test_sentences_are_stored_as_word_and_tag_lists(conll_run):
  outputs, _, sentences = conll_run
  examples = outputs["ExampleGen"]["examples"]
  assert examples.properties["example_kind"] == "tagged_words"
  stored = conll.read_conll(tfx_examples.split_dir(examples.uri, "eval"))
  assert [(list(s.words), list(s.tags)) for s in stored] == [
      (words, tags) for words, tags in sentences[160:]]
  train = statistics_gen.read(outputs["StatisticsGen"]["statistics"].uri, "train")
  features = {feature.path.step[0]: feature for feature in train.features}
  assert train.num_examples == 160
  tags = {value.value for value in features["tags"].string_stats.top_values}
  assert tags == {"O", "B-PER", "I-PER", "B-LOC"}
  lengths = [len(words) for words, _ in sentences[:160]]
  common = features["tokens"].string_stats.common_stats
  assert (common.min_num_values, common.max_num_values, common.tot_num_values) == (
      min(lengths), max(lengths), sum(lengths))
  schema = schema_gen.read(outputs["SchemaGen"]["schema"].uri)
  assert sorted(schema.string_domain[0].value) == sorted(tags)


def test_entities_are_scored_through_the_export_and_the_model_pushed(conll_run):
  outputs, report, _ = conll_run
  # The tiny names and cities are easy: measured 1.0 on the 40 eval sentences.
  assert report["overall"]["entity_f1"] >= 0.8, report["overall"]
  assert {"entity_f1/PER", "entity_f1/LOC"} <= set(report["overall"])
  assert report["overall"]["examples"] == 40
  assert outputs["Pusher"]["pushed_model"].properties["pushed"]
  assert outputs["InfraValidator"]["infra_blessing"].properties["problems"] == []


def test_character_spans_map_back_onto_words():
  words = ["Déjà", ",", "Bob", "Jones", "met", "Rome"]
  entities = [{"start": 7, "end": 16, "type": "PER"}, {"start": 21, "end": 25, "type": "LOC"}]
  assert word_tags(words, entities) == ["O", "O", "B-PER", "I-PER", "O", "B-LOC"]


@pytest.fixture(scope="module")
def squad_run(tiny_bert, tmp_path_factory):
  folder = tmp_path_factory.mktemp("squad_pipeline")
  path = folder / "squad.json"
  document = squad_document(300, unanswerable=0.3)
  path.write_text(json.dumps(document), encoding="utf-8")
  data = DataConfig(data_path=str(path), version_2_with_negative=True, max_query_length=8,
                    doc_stride=8)
  return (*_run("squad_bert", folder, data, tiny_bert, 32, 150), document)


def test_questions_are_stored_as_tfds_lays_squad_out(squad_run):
  outputs, _, document = squad_run
  examples = outputs["ExampleGen"]["examples"]
  assert examples.properties["example_kind"] == "questions"
  stored = [example for folder in tfx_examples.tfsft_splits(examples.uri).values()
            for example in squad.read_squad(folder)]
  originals = [(qa["question"], paragraph["context"],
                [(answer["text"], answer["answer_start"]) for answer in qa["answers"]])
               for paragraph in document["data"][0]["paragraphs"] for qa in paragraph["qas"]]
  assert sorted(originals) == sorted((example.question, example.context, list(example.answers))
                                     for example in stored)
  assert all(example.is_impossible == (not example.answers) for example in stored)
  # Unanswerable questions have no answer: the schema lets those features be empty.
  schema = {feature.name: feature for feature in
            schema_gen.read(outputs["SchemaGen"]["schema"].uri).feature}
  assert schema["answer_text"].presence.min_fraction == 0
  assert schema["question"].presence.min_fraction == 1


def test_answers_are_scored_with_the_official_v2_script_and_pushed(squad_run):
  outputs, report, _ = squad_run
  overall = report["overall"]
  assert {"exact_match", "f1", "HasAns_f1", "NoAns_f1"} <= set(overall)
  assert overall["f1"] > 40, overall
  assert {"answerable=yes", "answerable=no"} <= set(report["slices"])
  assert outputs["Pusher"]["pushed_model"].properties["pushed"]
