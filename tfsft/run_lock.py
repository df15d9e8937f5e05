"""One training run per --model_dir at a time.

Two runs writing the same checkpoints and logs would each corrupt the other's resume point. The
lock is an exclusive `flock` on a file in the model_dir: the kernel drops it when its process
ends however it ends (kill -9 included), so a killed run never leaves a stale lock behind. The
file says who holds it, for the error the second run prints.
"""

import contextlib
import datetime
import fcntl
import os
import socket
import sys

from tfsft.errors import UserError

LOCK_FILE = ".tfsft_run.lock"


@contextlib.contextmanager
def exclusive_run(directory: str, flag: str = "--model_dir"):
  """Holds the run lock of `directory` (created if need be) for the block; a UserError naming the
  holder if another process has it. A directory made only to hold the lock is removed again."""
  created = not os.path.isdir(directory)
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, LOCK_FILE)
  with open(path, "a+") as handle:
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      handle.seek(0)
      holder = handle.read().strip() or "another process"
      raise UserError(f"{flag}={directory} is in use by {holder}: wait for that run to finish, or "
                      f"pass another {flag}") from None
    handle.seek(0)
    handle.truncate()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    handle.write(f"{_command()} (pid {os.getpid()} on {socket.gethostname()}, since {started})\n")
    handle.flush()
    try:
      yield
    finally:
      handle.truncate(0)
      if created and os.listdir(directory) == [LOCK_FILE]:  # the run failed before writing
        os.remove(path)
        os.rmdir(directory)


def _command() -> str:
  """'tfsft.train' for `python -m tfsft.train`, else the script's name."""
  spec = getattr(sys.modules.get("__main__"), "__spec__", None)
  return spec.name if spec else os.path.basename(sys.argv[0]) or "python"
