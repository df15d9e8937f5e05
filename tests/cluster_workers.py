"""Worker processes of a TF_CONFIG cluster on loopback, for the multi-worker tests."""

import json
import os
import socket
import subprocess
import sys
import time

from conftest import REPO

WORKER_TIMEOUT_S = 240  # a bound for hangs, far above the ~20 s a run takes


def loopback_cluster(workers=2):
  """A cluster on 127.0.0.1 ports the kernel reports free. They are released for the workers to
  bind, so another process could take one meanwhile; the kernel rarely hands one out that soon."""
  sockets = [socket.socket() for _ in range(workers)]
  for each in sockets:
    each.bind(("127.0.0.1", 0))
  ports = [each.getsockname()[1] for each in sockets]
  for each in sockets:
    each.close()
  return {"worker": [f"127.0.0.1:{port}" for port in ports]}


def assert_trained_alike(single, multi):
  """Two eval_results of the tiny IMDb: one process's and the workers'. The tiny reviews carry
  their label in a few obvious words, so both runs get nearly all 40 test reviews right whatever
  order the examples came in. The validation split is the ~10% of the 120 train reviews a hash
  carves off: one review there is 8-12 points, so there it only has to be learned."""
  for run in (single, multi):
    assert run["test"]["accuracy"] >= 0.9, run
    assert run["validation"]["accuracy"] >= 0.75, run
  assert abs(multi["test"]["accuracy"] - single["test"]["accuracy"]) <= 0.1


class Workers:
  """One `python -m <module>` per worker of `cluster`, each with its TF_CONFIG; the output goes
  to files (a full pipe would block a worker)."""

  def __init__(self, cluster, flags, log_dir, name, module="tfsft.train"):
    self.logs = [log_dir / f"{name}_worker{index}.log" for index in range(len(cluster["worker"]))]
    self.processes = []
    for index, log in enumerate(self.logs):
      tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
      env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO,
                 TF_CONFIG=json.dumps(tf_config))
      with open(log, "w") as handle:
        self.processes.append(subprocess.Popen(
            [sys.executable, "-m", module, *flags], env=env, cwd=REPO, stdout=handle,
            stderr=subprocess.STDOUT))

  def wait(self, timeout=WORKER_TIMEOUT_S):
    deadline = time.time() + timeout
    return [process.wait(timeout=max(1, deadline - time.time())) for process in self.processes]

  def all_running(self):
    return all(process.poll() is None for process in self.processes)

  def output(self, index):
    return self.logs[index].read_text()

  def kill(self):
    for process in self.processes:
      if process.poll() is None:
        process.kill()
      process.wait()
