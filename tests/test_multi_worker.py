"""--strategy=multi_worker_mirrored: two worker processes on loopback train one model, the chief
alone writes the model_dir, and a killed worker means restarting both to resume."""

import json
import os
import re
import signal
import time

import pytest

from cluster_workers import WORKER_TIMEOUT_S, assert_trained_alike, loopback_cluster
from conftest import assert_ok, run_cli
from tfsft import distribute
from tfsft.errors import UserError

pytestmark = pytest.mark.heavy  # two worker processes per test: started first (conftest.py)

FLAGS = ["--task=imdb", "--model=lstm", "--embedding_dim=8", "--lstm_units=4", "--batch_size=8",
         "--learning_rate=1e-2"]


def _eval_results(model_dir):
  with open(model_dir / "eval_results.json") as handle:
    return json.load(handle)


def test_two_workers_train_like_one_process_and_only_the_chief_writes(tiny_imdb, tmp_path,
                                                                       start_workers):
  flags = [*FLAGS, f"--data_path={tiny_imdb}", "--train_steps=60", "--checkpoint_every_steps=20"]
  workers = start_workers(loopback_cluster(), [
      *flags, "--strategy=multi_worker_mirrored", f"--model_dir={tmp_path / 'multi'}",
      f"--export_dir={tmp_path / 'export'}"], "train")
  assert workers.wait() == [0, 0], workers.output(0)[-3000:] + workers.output(1)[-3000:]
  single = tmp_path / "single"
  assert_ok(run_cli("tfsft.train", *flags, f"--model_dir={single}", "--noexport"))

  for index in (0, 1):
    assert "MultiWorkerMirroredStrategy with 2 replica(s)" in workers.output(index)
    assert "4 row(s) per replica per step" in workers.output(index)
  multi = _eval_results(tmp_path / "multi")
  assert multi["step"] == 60
  assert_trained_alike(_eval_results(single), multi)

  # The chief's files only: worker 1's checkpoints were deleted as soon as written.
  assert sorted(os.listdir(tmp_path / "multi")) == sorted(os.listdir(single))
  assert sorted(os.listdir(tmp_path / "export")) == ["1"]
  assert "SavedModel:" in workers.output(0) and "SavedModel:" not in workers.output(1)


def test_a_killed_worker_stops_the_other_and_both_resume_from_the_chiefs_checkpoint(
    tiny_imdb, tmp_path, start_workers):
  model_dir = tmp_path / "model"
  flags = [*FLAGS, f"--data_path={tiny_imdb}", f"--model_dir={model_dir}", "--noexport",
           "--strategy=multi_worker_mirrored", "--train_steps=100", "--checkpoint_every_steps=10",
           "--eval_every_steps=1000"]
  cluster = loopback_cluster()
  first = start_workers(cluster, flags, "first")
  checkpoint_index = model_dir / "checkpoints" / "checkpoint"
  deadline = time.time() + WORKER_TIMEOUT_S
  while not checkpoint_index.exists() and time.time() < deadline and first.all_running():
    time.sleep(0.2)
  assert first.all_running(), "training ended before it could be interrupted"
  # The chief: it also leads TF's coordination service, the harder peer to lose.
  first.processes[0].send_signal(signal.SIGKILL)
  survivor = first.processes[1].wait(timeout=WORKER_TIMEOUT_S)
  assert survivor != 0
  assert "a worker of the cluster was lost" in first.output(1)
  assert "restart every worker with the same command" in first.output(1)

  restarted = start_workers(cluster, flags, "restarted")
  assert restarted.wait() == [0, 0], restarted.output(0)[-3000:] + restarted.output(1)[-3000:]
  steps = {int(re.search(r"Resuming from \S+ at step (\d+)", restarted.output(index)).group(1))
           for index in (0, 1)}
  assert len(steps) == 1 and 0 < steps.pop() < 100  # both from the chief's last checkpoint
  assert _eval_results(model_dir)["step"] == 100
  assert not [name for name in os.listdir(model_dir) if name.startswith("worker_tmp")]


@pytest.mark.parametrize("tf_config, problem", [
    ("{not json", "TF_CONFIG cannot be read"),
    ('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", '
     '"index": 2}}', "is not in its cluster"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "chief", "index": 0}}',
     "is not in its cluster"),
])
def test_a_bad_tf_config_is_one_line_naming_it(tf_config, problem, monkeypatch):
  monkeypatch.setenv("TF_CONFIG", tf_config)
  # Refused before the strategy would configure this process's TF runtime.
  with pytest.raises(UserError, match=problem) as error:
    distribute.make_strategy("multi_worker_mirrored")
  assert "\n" not in str(error.value) and '"index": <this worker' in str(error.value)
