"""ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator on small files: TFX's layout,
statistics and schemas that tensorflow-metadata reads, anomalies that stop the run naming the
feature, the same statistics from Beam's multi-process runner with 2 workers, and instruction
records and sentence pairs stored as `messages` that instruction_tuning reads back."""

import csv
import os

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from pipelines import runner
from pipelines.component import Pipeline, PipelineStop
from pipelines.components import schema_gen, statistics_gen
from pipelines.components.example_gen import ExampleGen
from pipelines.components.example_validator import ANOMALIES_FILE, ExampleValidator
from pipelines.components.schema_gen import ImportSchemaGen, SchemaGen
from pipelines.components.statistics_gen import StatisticsGen
from tfsft.data import tfx_examples
from tfsft.errors import UserError


def _write(path, rows):
  with open(path, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["text", "label"])
    writer.writerows(rows)


def _data_dir(tmp_path, validation_labels=("good", "bad")):
  folder = tmp_path / "data"
  folder.mkdir()
  _write(folder / "train.csv", [(f"{word} film number {i}", word) for i in range(30)
                                for word in ("good", "bad")])
  _write(folder / "validation.csv", [(f"{label} movie {i} was {'really ' * i}{label}", label)
                                     for i in range(10) for label in validation_labels])
  return str(folder)


def _data_pipeline(data_path, schema_file=None):
  example_gen = ExampleGen(task="text_classification", data={"data_path": data_path}, seed=1)
  examples = example_gen.outputs["examples"]
  statistics = StatisticsGen(examples=examples)
  schema = (ImportSchemaGen(schema_file=schema_file) if schema_file else
            SchemaGen(statistics=statistics.outputs["statistics"], examples=examples))
  validator = ExampleValidator(statistics=statistics.outputs["statistics"],
                               schema=schema.outputs["schema"])
  return Pipeline("data", [example_gen, statistics, schema, validator])


def test_examples_statistics_and_schema_in_tfx_layout(tmp_path):
  outputs = runner.run(_data_pipeline(_data_dir(tmp_path)), str(tmp_path / "root"))
  examples = outputs["ExampleGen"]["examples"]
  assert examples.properties["split_names"] == ["train", "eval"]
  assert examples.properties["label_names"] == ["bad", "good"]
  assert [os.path.basename(path) for path in tfx_examples.shard_files(
      tfx_examples.split_dir(examples.uri, "train"))] == ["data_tfrecord-00000-of-00001.gz"]
  # tfsft's own reader takes the artifact as --data_path, splits named as tfsft names them.
  assert sorted(tfx_examples.tfsft_splits(examples.uri)) == ["train", "validation"]

  train = statistics_gen.read(outputs["StatisticsGen"]["statistics"].uri, "train")
  assert train.num_examples == 60
  features = {feature.path.step[0]: feature for feature in train.features}
  labels = {value.value: value.frequency for value in features["label"].string_stats.top_values}
  assert labels == {"good": 30, "bad": 30}
  text = features["text"]
  assert text.string_stats.common_stats.num_non_missing == 60
  custom = {stat.name: stat for stat in text.custom_stats}
  assert custom["num_empty_values"].num == 0
  assert sum(bucket.sample_count for bucket in custom["token_length_histogram"].histogram.buckets) == 60
  assert custom["token_length_histogram"].histogram.buckets[0].low_value == 4  # "good film number 0"

  schema = schema_gen.read(outputs["SchemaGen"]["schema"].uri)
  by_name = {feature.name: feature for feature in schema.feature}
  assert by_name["label"].domain == "label"
  assert list(schema.string_domain[0].value) == ["bad", "good"]
  assert by_name["text"].HasField("natural_language_domain")
  assert by_name["label"].drift_comparator.infinity_norm.threshold == 0.2
  anomalies = anomalies_pb2.Anomalies.FromString(open(os.path.join(tfx_examples.split_dir(
      outputs["ExampleValidator"]["anomalies"].uri, "eval"), ANOMALIES_FILE), "rb").read())
  assert not anomalies.anomaly_info


def test_label_drift_stops_the_run_before_training_naming_the_feature(tmp_path):
  with pytest.raises(PipelineStop, match=r"split eval, feature 'label': its distribution drifts"):
    runner.run(_data_pipeline(_data_dir(tmp_path, validation_labels=("good",))),
               str(tmp_path / "root"))


def test_values_outside_a_curated_schema_stop_the_run(tmp_path):
  schema = schema_pb2.Schema()
  schema.feature.add(name="text", type=schema_pb2.BYTES).natural_language_domain.SetInParent()
  schema.feature.add(name="label", type=schema_pb2.BYTES, domain="label")
  schema.feature.add(name="rating", type=schema_pb2.INT)
  schema.string_domain.add(name="label", value=["good"])
  path = tmp_path / "schema.pbtxt"
  path.write_text(text_format.MessageToString(schema))
  with pytest.raises(PipelineStop) as stopped:
    runner.run(_data_pipeline(_data_dir(tmp_path), str(path)), str(tmp_path / "root"))
  message = str(stopped.value)
  assert message.startswith("ExampleValidator: 4 anomalies in the data")
  assert "feature 'label': unexpected values 'bad' (the schema allows good)" in message
  anomalies = anomalies_pb2.Anomalies.FromString(open(os.path.join(
      tmp_path / "root", "ExampleValidator", "anomalies", "4", "Split-train", ANOMALIES_FILE),
      "rb").read())
  assert sorted(anomalies.anomaly_info) == ["label", "rating"]
  assert anomalies.anomaly_info["rating"].reason[0].type == anomalies_pb2.AnomalyInfo.SCHEMA_MISSING_COLUMN


def _texts(examples_uri, split, feature):
  import tensorflow as tf
  files = tfx_examples.shard_files(tfx_examples.split_dir(examples_uri, split))
  return [tf.train.Example.FromString(record).features.feature[feature].bytes_list.value[0]
          for record in tf.data.TFRecordDataset(files, "GZIP").as_numpy_iterator()]


def test_split_by_a_feature_keeps_each_of_its_values_on_one_side(tmp_path):
  # Sentence pairs: each premise with four hypotheses. Split by the premise, none of them may
  # be trained on and evaluated both.
  folder = tmp_path / "pairs"
  folder.mkdir()
  for split, premises in (("train", range(50)), ("test", range(50, 60))):
    with open(folder / f"{split}.csv", "w", newline="") as handle:
      writer = csv.writer(handle)
      writer.writerow(["text", "text_pair", "label"])
      writer.writerows([(f"premise {i}", f"hypothesis {i}.{j}", "yes" if j % 2 else "no")
                        for i in premises for j in range(4)])
  data = {"data_path": str(folder), "text_pair_column": "text_pair", "validation_fraction": 0.2}
  pipeline = Pipeline("pairs", [ExampleGen(task="text_classification", data=data, seed=3,
                                           split_feature="text")])
  examples = runner.run(pipeline, str(tmp_path / "root"))["ExampleGen"]["examples"]
  assert examples.properties["split_names"] == ["train", "eval", "test"]
  train, evaluation = (_texts(examples.uri, split, "text") for split in ("train", "eval"))
  assert len(_texts(examples.uri, "test", "text")) == 40  # the source's own test, as it was
  assert not set(train) & set(evaluation)
  assert len(train) + len(evaluation) == 200 and len(evaluation) % 4 == 0
  assert 0.05 < len(evaluation) / 200 < 0.4  # about --validation_fraction of 50 premises

  unknown = Pipeline("pairs", [ExampleGen(task="text_classification", data=data,
                                          split_feature="premise")])
  with pytest.raises(UserError, match="^--split_feature=premise is not a feature of "
                     "text_classification's examples: choose from text, text_pair, label$"):
    runner.run(unknown, str(tmp_path / "root"))


def test_beam_multi_process_runner_gives_the_same_statistics(tmp_path):
  data = _data_dir(tmp_path)
  pipeline = Pipeline("data", _data_pipeline(data).components[:2])
  in_process = runner.run(pipeline, str(tmp_path / "one"))
  two_workers = runner.run(pipeline, str(tmp_path / "two"), beam_pipeline_args=[
      "--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
  for split in ("train", "eval"):
    assert (statistics_gen.read(two_workers["StatisticsGen"]["statistics"].uri, split)
            == statistics_gen.read(in_process["StatisticsGen"]["statistics"].uri, split))


def _conversations(examples_uri, split="train"):
  from tfsft.data import instructions
  return instructions.read_file(tfx_examples.split_dir(examples_uri, split)).conversations


def test_instruction_records_become_messages_that_instruction_tuning_reads_back(tmp_path):
  import json
  records = [{"instruction": f"Add {i} and 2", "input": f"{i} 2" if i % 2 else "",
              "output": str(i + 2), "system": "Be brief."} for i in range(40)]
  path = tmp_path / "alpaca.json"
  path.write_text(json.dumps(records), encoding="utf-8")
  example_gen = ExampleGen(task="instruction_tuning", data={"data_path": str(path)}, seed=1)
  statistics = StatisticsGen(examples=example_gen.outputs["examples"])
  schema = SchemaGen(statistics=statistics.outputs["statistics"],
                     examples=example_gen.outputs["examples"])
  outputs = runner.run(Pipeline("sft_data", [example_gen, statistics, schema]),
                       str(tmp_path / "root"))
  examples = outputs["ExampleGen"]["examples"]
  assert examples.properties["example_kind"] == "conversations"
  assert examples.properties["input_names"] == ["messages"]
  assert examples.properties["label_feature"] is None
  read_back = [c for split in examples.properties["split_names"]
               for c in _conversations(examples.uri, split)]
  from tfsft.data import instructions
  originals = instructions.read_file(str(path)).conversations
  assert sorted(read_back, key=json.dumps) == sorted(originals, key=json.dumps)
  # Alpaca's instruction and input travel with the user turn (its own template writes them).
  with_input = next(c for c in read_back if c[1]["content"].startswith("Add 1 "))
  assert with_input[1]["instruction"] == "Add 1 and 2" and with_input[1]["input"] == "1 2"
  schema_features = {feature.name: feature for feature in
                     schema_gen.read(outputs["SchemaGen"]["schema"].uri).feature}
  assert list(schema_features) == ["messages"]
  assert schema_features["messages"].HasField("natural_language_domain")


def test_sentence_pairs_become_instructions_through_the_prompt_template(tmp_path):
  pairs = tmp_path / "pairs.txt"
  pairs.write_text("".join(f"I see {i} cats.\tJe vois {i} chats.\n" for i in range(30)),
                   encoding="utf-8")
  example_gen = ExampleGen(task="instruction_tuning", seed=1, data={
      "data_path": str(pairs), "text_from_task": "translation",
      "prompt_template": "Translate to French: {source}"})
  examples = runner.run(Pipeline("pairs", [example_gen]),
                        str(tmp_path / "root"))["ExampleGen"]["examples"]
  conversations = [c for split in examples.properties["split_names"]
                   for c in _conversations(examples.uri, split)]
  assert len(conversations) == 30
  assert {"role": "user", "content": "Translate to French: I see 7 cats."} in [
      c[0] for c in conversations]
  assert all(c[-1]["role"] == "assistant" and c[-1]["content"].startswith("Je vois ")
             for c in conversations)
  assert "translation" in examples.properties["source"]


def test_example_gen_names_the_tasks_it_can_store(tmp_path):
  pairs = tmp_path / "pairs.txt"
  pairs.write_text("I see.\tJe vois.\n", encoding="utf-8")
  with pytest.raises(UserError, match="pipelines do not read --task=translation's examples yet: "
                                      "run labeled-text tasks"):
    runner.run(Pipeline("pairs", [ExampleGen(task="translation",
                                             data={"data_path": str(pairs)})]),
               str(tmp_path / "root"))
