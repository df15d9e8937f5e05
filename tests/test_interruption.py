"""A run killed midway and restarted with the same command continues from its last checkpoint;
while it runs, a second run on its model_dir is refused."""

import json
import os
import re
import signal
import subprocess
import sys
import time

from conftest import REPO, assert_ok, run_cli


def test_killed_run_resumes_from_its_last_checkpoint(tiny_imdb, tmp_path):
  model_dir = tmp_path / "model"
  flags = ["--task=imdb", "--model=lstm", f"--data_path={tiny_imdb}", f"--model_dir={model_dir}",
           "--noexport", "--batch_size=8", "--train_steps=400", "--checkpoint_every_steps=20",
           "--eval_every_steps=200", "--embedding_dim=8", "--lstm_units=4"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
  process = subprocess.Popen([sys.executable, "-m", "tfsft.train", *flags], env=env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  index = model_dir / "checkpoints" / "checkpoint"
  deadline = time.time() + 300
  while not index.exists() and time.time() < deadline and process.poll() is None:
    time.sleep(0.2)
  assert process.poll() is None, "training ended before it could be interrupted"
  # Paused, the run still holds its lock but takes no more steps while the second run is tried:
  # the restart then has most of the steps left to do.
  process.send_signal(signal.SIGSTOP)
  # A second run on the same model_dir is refused while the first one is alive ...
  second = run_cli("tfsft.train", *flags)
  assert second.returncode == 2 and "Traceback" not in second.stderr
  assert f"is in use by tfsft.train (pid {process.pid} on" in second.stderr
  process.send_signal(signal.SIGKILL)
  process.wait()
  # ... and the killed run's lock does not outlive it.

  restarted = assert_ok(run_cli("tfsft.train", *flags))
  step = int(re.search(r"Resuming from \S+ at step (\d+)", restarted.stderr).group(1))
  assert 0 < step < 400
  with open(model_dir / "eval_results.json") as handle:
    assert json.load(handle)["step"] == 400
