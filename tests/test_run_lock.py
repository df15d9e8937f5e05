"""One run per --model_dir: a second one is refused naming the first, and a killed run's lock does
not outlive it."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import REPO
from tfsft.errors import UserError
from tfsft.run_lock import LOCK_FILE, exclusive_run

HOLD_LOCK = """
import sys, time
from tfsft.run_lock import exclusive_run
with exclusive_run(sys.argv[1]):
  print("locked", flush=True)
  time.sleep(120)
"""


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
  with exclusive_run(str(tmp_path)):
    with pytest.raises(UserError, match=rf"--model_dir={tmp_path} is in use by .*pid {os.getpid()}"):
      with exclusive_run(str(tmp_path)):
        pass
  with exclusive_run(str(tmp_path)):  # released at the end of the block
    pass


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
  holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(UserError, match=f"pid {holder.pid}"):
      with exclusive_run(str(tmp_path)):
        pass
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  with exclusive_run(str(tmp_path)):
    pass
  assert os.path.exists(tmp_path / LOCK_FILE)  # the folder existed before: only its lock file


def test_a_folder_made_only_for_the_lock_is_removed_when_the_run_fails_early(tmp_path):
  with pytest.raises(ValueError):
    with exclusive_run(str(tmp_path / "new")):
      raise ValueError("bad data")
  assert not (tmp_path / "new").exists()
