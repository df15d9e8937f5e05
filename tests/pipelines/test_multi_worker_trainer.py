"""The pipeline's Trainer on a TF_CONFIG cluster: two worker processes on loopback train one model
(MultiWorkerMirroredStrategy) as well as one process does; the chief records the execution and
writes its folders, the other worker records nothing; the rest of the pipeline pushes that model."""

import json
import os

import pytest

from cluster_workers import assert_trained_alike, loopback_cluster
from conftest import assert_ok, run_cli
from pipelines import artifacts, metadata

pytestmark = pytest.mark.heavy  # two worker processes: started first (conftest.py)

DATA_STEPS = "--components=ExampleGen,StatisticsGen,SchemaGen,ExampleValidator"


def _trainer_executions(root):
  with metadata.open_store(root) as store:
    return [(execution, store.artifacts_of(execution["id"], metadata.OUTPUT))
            for execution in store.executions() if execution["component"] == "Trainer"]


def _eval_results(model_run):
  with open(os.path.join(model_run.uri, "eval_results.json")) as handle:
    return json.load(handle)


def test_two_workers_train_the_pipeline_model_like_one_and_it_is_pushed(
    imdb_pipeline_args, tmp_path, start_workers):
  args = imdb_pipeline_args(tmp_path)
  root = str(tmp_path / "root")
  assert_ok(run_cli("pipelines.run", *args, DATA_STEPS))
  assert_ok(run_cli("pipelines.run", *args, "--components=Trainer"))
  workers = start_workers(loopback_cluster(), [
      *args, "--components=Trainer", "--strategy=multi_worker_mirrored"], "trainer",
      module="pipelines.run")
  assert workers.wait() == [0, 0], workers.output(0)[-3000:] + workers.output(1)[-3000:]
  for index in (0, 1):
    assert "MultiWorkerMirroredStrategy with 2 replica(s)" in workers.output(index)
  assert "working beside the chief's execution" in workers.output(1)

  # One execution per run: the single process's, then the chief's (worker 1 recorded nothing).
  (single, single_outputs), (multi, multi_outputs) = _trainer_executions(root)
  assert single["state"] == multi["state"] == metadata.COMPLETE
  assert multi_outputs["model_run"].uri != single_outputs["model_run"].uri
  one, two = (_eval_results(single_outputs["model_run"]),
              _eval_results(multi_outputs["model_run"]))
  assert two["step"] == 120
  assert_trained_alike(one, two)
  # The chief's files only: worker 1's checkpoints were deleted as soon as written.
  assert (sorted(os.listdir(multi_outputs["model_run"].uri))
          == sorted(os.listdir(single_outputs["model_run"].uri)))

  pushed = assert_ok(run_cli("pipelines.run", *args,
                             "--components=Evaluator,InfraValidator,Pusher"))
  assert f"Pushed: {tmp_path}/serving/1" in pushed.stdout
  with metadata.open_store(root) as store:
    [pushed_model] = store.artifacts(artifacts.PUSHED_MODEL)
  assert pushed_model.properties["source"] == multi_outputs["model"].properties["saved_model"]


def test_a_multi_worker_strategy_runs_the_trainer_step_alone(imdb_pipeline_args, tmp_path):
  process = run_cli("pipelines.run", *imdb_pipeline_args(tmp_path),
                    "--strategy=multi_worker_mirrored")
  assert process.returncode == 2
  assert process.stderr.strip().splitlines()[-1].startswith(
      "tfsft: error: --strategy=multi_worker_mirrored trains on every worker of TF_CONFIG's "
      "cluster: run each worker with --components=Trainer")
  assert not os.path.exists(tmp_path / "root")
