"""The IMDb pipeline from the command line, as a user runs it: ExampleGen to Pusher on aclImdb files
with a BERT checkpoint (tiny ones here; the real slice is in docs/benchmarks.md). Artifacts in
TFX's layout, statistics tensorflow-metadata reads, a blessed model pushed and answering raw text,
lineage, TensorBoard, a fully cached rerun, an unmet threshold that pushes nothing, a kill -9
mid-Trainer that resumes without redoing ExampleGen, and the Kubeflow YAML."""

import collections
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from conftest import REPO, assert_ok, run_cli, scalars
from pipelines import metadata
from pipelines.components.schema_gen import SCHEMA_FILE
from pipelines.components.statistics_gen import STATISTICS_FILE

pytestmark = pytest.mark.heavy

COMPONENTS = ["ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Trainer",
              "Evaluator", "InfraValidator", "Pusher"]

PipelineRun = collections.namedtuple("PipelineRun", "root serving args stdout")


@pytest.fixture(scope="module")
def first_run(imdb_pipeline_args, tmp_path_factory):
  folder = tmp_path_factory.mktemp("imdb_pipeline")
  args = imdb_pipeline_args(folder)
  process = assert_ok(run_cli("pipelines.run", *args))
  return PipelineRun(str(folder / "root"), str(folder / "serving"), args, process.stdout)


def _executions(root):
  with metadata.open_store(root) as store:
    return store.executions()


def _last_run_states(root):
  """Each component's state in the newest run (its executions are the last eight)."""
  return {execution["component"]: execution["state"]
          for execution in _executions(root)[-len(COMPONENTS):]}


def _uri(root, component, output):
  """The one output folder a component has written so far."""
  folders = glob.glob(os.path.join(root, component, output, "*"))
  assert len(folders) == 1, folders
  return folders[0]


def test_artifacts_in_tfx_layout_with_statistics_and_schema_tensorflow_metadata_reads(first_run):
  assert sorted(os.listdir(first_run.root)) == sorted(COMPONENTS + [metadata.FILE_NAME])
  examples = _uri(first_run.root, "ExampleGen", "examples")
  statistics = _uri(first_run.root, "StatisticsGen", "statistics")
  for split in ("train", "eval", "test"):
    assert glob.glob(os.path.join(examples, f"Split-{split}", "data_tfrecord-*-of-*.gz"))
    with open(os.path.join(statistics, f"Split-{split}", STATISTICS_FILE), "rb") as handle:
      read = statistics_pb2.DatasetFeatureStatisticsList.FromString(handle.read())
    features = {feature.path.step[0]: feature for feature in read.datasets[0].features}
    assert sorted(features) == ["label", "text"]
    assert read.datasets[0].num_examples > 0
    labels = {bucket.label for bucket in features["label"].string_stats.rank_histogram.buckets}
    assert labels == {"neg", "pos"}
  # tiny aclImdb: 60 + 60 train reviews (eval carved from them), 20 + 20 test.
  with open(os.path.join(statistics, "Split-test", STATISTICS_FILE), "rb") as handle:
    assert statistics_pb2.DatasetFeatureStatisticsList.FromString(
        handle.read()).datasets[0].num_examples == 40
  with open(os.path.join(_uri(first_run.root, "SchemaGen", "schema"), SCHEMA_FILE)) as handle:
    schema = text_format.Parse(handle.read(), schema_pb2.Schema())
  assert sorted(feature.name for feature in schema.feature) == ["label", "text"]
  assert sorted(schema.string_domain[0].value) == ["neg", "pos"]


def test_the_blessed_model_is_pushed_as_version_1_and_answers_raw_text(first_run):
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  the tokenizer ops of the serving graph
  assert f"Pushed: {first_run.serving}/1" in first_run.stdout
  assert os.listdir(first_run.serving) == ["1"]
  assert os.path.isfile(os.path.join(first_run.serving, "1", "saved_model.pb"))
  assert os.listdir(_uri(first_run.root, "Evaluator", "blessing")) == ["BLESSED"]
  infra = _uri(first_run.root, "InfraValidator", "infra_blessing")
  assert "INFRA_BLESSED" in os.listdir(infra)
  with open(os.path.join(infra, "report.json")) as handle:
    report = json.load(handle)
  # The fresh-process loader check answered every signature; without a tensorflow_model_server
  # binary on PATH it stands alone.
  assert not report["servability"].get("problems")
  assert {"classify", "serving_default"} <= set(report["servability"]["signatures"])
  serve = tf.saved_model.load(os.path.join(first_run.serving, "1")).signatures["serving_default"]
  scores = serve(text=tf.constant(["A wonderful, brilliant, moving film.",
                                   "An awful, boring waste of a film."]))["scores"].numpy()
  assert scores[0].argmax() == 1 and scores[1].argmax() == 0  # label names sorted: neg, pos


def test_evaluation_metrics_overall_and_per_slice_and_tensorboard_shows_both_runs(first_run):
  evaluation = _uri(first_run.root, "Evaluator", "evaluation")
  with open(os.path.join(evaluation, "metrics.json")) as handle:
    report = json.load(handle)
  assert report["overall"]["accuracy"] >= 0.9
  assert {"label=neg", "label=pos"} <= set(report["slices"])
  assert sum(report["slices"][name]["examples"] for name in ("label=neg", "label=pos")) == (
      report["overall"]["examples"])
  assert scalars(os.path.join(evaluation, "logs"), "eval/accuracy")[0][1] == pytest.approx(
      report["overall"]["accuracy"])
  model_run = _uri(first_run.root, "Trainer", "model_run")
  losses = [value for _, value in scalars(os.path.join(model_run, "logs", "train"), "train/loss")]
  assert losses and losses[-1] < losses[0]


def test_lineage_of_the_pushed_model_reaches_back_to_the_data(first_run):
  printed = assert_ok(run_cli("pipelines.lineage", f"--pipeline_root={first_run.root}")).stdout
  assert printed.startswith("PushedModel #")
  # Everything the model came from; ExampleValidator's anomalies feed no later component (it
  # stops the run instead).
  for component in set(COMPONENTS) - {"ExampleValidator"}:
    assert f"<- {component} execution #" in printed
  assert "local aclImdb directory" in printed  # the data ExampleGen read


def test_a_rerun_is_fully_cached_and_pushes_no_new_version(first_run):
  assert_ok(run_cli("pipelines.run", *first_run.args))
  assert set(_last_run_states(first_run.root).values()) == {metadata.CACHED}
  assert os.listdir(first_run.serving) == ["1"]


def test_an_unmet_threshold_reevaluates_the_cached_model_and_pushes_nothing(first_run):
  process = assert_ok(run_cli("pipelines.run", *first_run.args, "--eval_thresholds=accuracy:1.01"))
  states = _last_run_states(first_run.root)
  assert states["Trainer"] == metadata.CACHED
  assert states["Evaluator"] == states["Pusher"] == metadata.COMPLETE
  assert "Not pushed: accuracy" in process.stdout
  assert os.listdir(first_run.serving) == ["1"]


def test_bad_flags_get_one_line_and_exit_2(first_run, tmp_path):
  process = run_cli("pipelines.run", *first_run.args, f"--model_dir={tmp_path}")
  assert process.returncode == 2
  assert process.stderr.strip().splitlines()[-1] == (
      "tfsft: error: --model_dir is set by the pipeline (its artifacts' folders and task): "
      "leave it out")
  assert "Traceback" not in process.stderr
  assert not os.listdir(tmp_path)


def test_the_kubeflow_yaml_has_one_step_per_component(first_run, tiny_bert, tmp_path):
  output = str(tmp_path / "pipeline.yaml")
  assert_ok(run_cli("pipelines.compile_kfp", *first_run.args, f"--output={output}"))
  with open(output) as handle:
    spec = yaml.safe_load(handle)
  tasks = spec["root"]["dag"]["tasks"]
  assert sorted(task["taskInfo"]["name"] for task in tasks.values()) == sorted(COMPONENTS)
  for component in COMPONENTS:
    args = spec["deploymentSpec"]["executors"][f"exec-{component.lower()}"]["container"]["args"]
    assert f"--components={component}" in args
    # The roots are the Kubeflow pipeline's parameters; the training flags are passed on as given.
    assert "{{$.inputs.parameters['pipeline_root']}}" in args
    assert f"--init_checkpoint={tiny_bert}" in args


def test_a_kill_during_training_resumes_in_its_folder_without_redoing_example_gen(
    imdb_pipeline_args, tmp_path):
  # Long enough to kill between checkpoints; ExampleGen and the checks before it take seconds.
  args = imdb_pipeline_args(tmp_path, "--checkpoint_every_steps=20", train_steps=200)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
  killed = subprocess.Popen([sys.executable, "-m", "pipelines.run", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  root = str(tmp_path / "root")
  deadline = time.time() + 300
  while not glob.glob(os.path.join(root, "Trainer", "model_run", "*", "checkpoints",
                                   "*.index")):
    assert killed.poll() is None and time.time() < deadline, "the Trainer wrote no checkpoint"
    time.sleep(0.2)
  killed.send_signal(signal.SIGKILL)
  killed.wait()
  model_run = _uri(root, "Trainer", "model_run")
  assert _last_run_states(root)["Trainer"] == metadata.RUNNING  # as a kill leaves it
  assert not os.path.exists(os.path.join(model_run, "eval_results.json"))

  resumed = assert_ok(run_cli("pipelines.run", *args))
  states = [(execution["component"], execution["state"]) for execution in _executions(root)]
  trainer_runs = [state for component, state in states if component == "Trainer"]
  assert trainer_runs == [metadata.FAILED, metadata.COMPLETE]  # the killed one, then the resumed
  example_gen_runs = [state for component, state in states if component == "ExampleGen"]
  assert example_gen_runs == [metadata.COMPLETE, metadata.CACHED]
  assert _uri(root, "Trainer", "model_run") == model_run  # continued in the same folder
  assert "Resuming from" in resumed.stderr
  with open(os.path.join(model_run, "eval_results.json")) as handle:
    assert json.load(handle)["step"] == 200
  assert os.listdir(tmp_path / "serving") == ["1"]
