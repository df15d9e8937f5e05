"""Numeric version folders under a TF Serving model base path, published atomically and race-free.

TF Serving watches <base>/<integer>/ and loads the highest version. A model is written into a
hidden, non-numeric staging folder the server ignores, then renamed into place in one step, so a
watching server never loads half a model. The version number is taken by the rename itself: when
two exports finish together, one rename wins the number and the other takes the next one.

Each version records where it came from (`RECORD`), so exporting the same checkpoint with the same
settings again (a rerun after a kill that came just after the export) adds no duplicate version.
"""

import errno
import json
import os
import shutil
import socket
import time
import uuid
from typing import Optional

from absl import logging

from tfsft.output_locations import check_writable_directory

RECORD = os.path.join("assets.extra", "tfsft_export.json")  # TF Serving ignores other files there
STAGING_PREFIX = ".staging-"
# Staging folders of other machines (a shared file system) or of older tfsft versions cannot be
# tied to a process; they count as abandoned once nothing has touched them for this long.
_FOREIGN_STAGING_AGE_SECONDS = 24 * 3600


def existing_versions(export_root: str):
  if not os.path.isdir(export_root):
    return []
  return sorted(int(name) for name in os.listdir(export_root) if name.isdigit())


def newest_version_with(export_root: str, record: dict) -> Optional[str]:
  """The newest version's path when it was published with this same `record`, else None."""
  versions = existing_versions(export_root)
  if not versions:
    return None
  newest = os.path.join(export_root, str(versions[-1]))
  try:
    with open(os.path.join(newest, RECORD)) as handle:
      return newest if json.load(handle) == record else None
  except (OSError, ValueError):  # exported by something else, or before records existed
    return None


def publish(export_root: str, write_into, record: Optional[dict] = None) -> str:
  """Calls `write_into(staging_dir)`, stores `record` beside it, then renames the staging dir to
  the next free version number; returns the version's path."""
  check_writable_directory(export_root, "--export_dir")
  os.makedirs(export_root, exist_ok=True)
  _remove_abandoned_staging(export_root)
  staging = os.path.join(
      export_root, f"{STAGING_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}")
  try:
    write_into(staging)
    if record is not None:
      os.makedirs(os.path.dirname(os.path.join(staging, RECORD)), exist_ok=True)
      with open(os.path.join(staging, RECORD), "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
    return _rename_to_next_version(staging, export_root)
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def _rename_to_next_version(staging: str, export_root: str) -> str:
  while True:
    final = os.path.join(export_root, str((existing_versions(export_root) or [0])[-1] + 1))
    try:
      os.rename(staging, final)  # atomic; refuses to replace a non-empty folder
      return final
    except OSError as error:
      if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
        raise
      # Another export took this number between the listing and the rename: try the next.


def _remove_abandoned_staging(export_root: str):
  """Deletes staging folders left by killed exports: those of dead processes on this machine,
  and any other that has not changed for a day. Live exports' folders are kept."""
  host = socket.gethostname()
  for name in os.listdir(export_root):
    if not name.startswith(STAGING_PREFIX):
      continue
    path = os.path.join(export_root, name)
    # .staging-<host>-<pid>-<random>, as `publish` names it.
    owner, _, _ = name[len(STAGING_PREFIX):].rpartition("-")
    owner_host, _, pid = owner.rpartition("-")
    if owner_host == host and pid.isdigit():
      abandoned = not _process_alive(int(pid))
    else:
      try:
        abandoned = time.time() - os.path.getmtime(path) > _FOREIGN_STAGING_AGE_SECONDS
      except OSError:  # removed meanwhile
        continue
    if abandoned:
      logging.info("Removing %s, left by an export that did not finish.", path)
      shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process
    return True
  return True
