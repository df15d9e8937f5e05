import os
import socket
import subprocess
import sys
import time

import pytest

from tfsft.serving import versioning


def _write(path):
  os.makedirs(path)
  open(os.path.join(path, "saved_model.pb"), "w").close()


def test_versions_count_up_and_ignore_non_numeric_folders(tmp_path):
  root = str(tmp_path / "imdb")
  assert versioning.publish(root, _write).endswith(os.sep + "1")
  os.makedirs(os.path.join(root, "notes"))
  assert versioning.publish(root, _write).endswith(os.sep + "2")
  assert versioning.existing_versions(root) == [1, 2]


def test_a_failed_write_leaves_no_version_and_no_staging(tmp_path):
  root = str(tmp_path / "imdb")
  versioning.publish(root, _write)

  def fail(path):
    os.makedirs(path)
    raise RuntimeError("disk full")

  with pytest.raises(RuntimeError):
    versioning.publish(root, fail)
  assert sorted(os.listdir(root)) == ["1"]


def test_an_export_that_loses_the_race_for_a_number_takes_the_next(tmp_path, monkeypatch):
  root = str(tmp_path / "imdb")
  versioning.publish(root, _write)
  listings = iter([[]])  # the other export renamed "1" into place after this one listed
  real_listing = versioning.existing_versions
  monkeypatch.setattr(versioning, "existing_versions",
                      lambda path: next(listings, None) or real_listing(path))
  assert versioning.publish(root, _write).endswith(os.sep + "2")
  assert sorted(os.listdir(root)) == ["1", "2"]


def test_staging_folders_of_killed_exports_are_removed_and_live_ones_kept(tmp_path):
  root = tmp_path / "imdb"
  host = socket.gethostname()
  finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                            capture_output=True, text=True, check=True)
  dead = root / f".staging-{host}-{int(finished.stdout)}-aaaa"
  live = root / f".staging-{host}-{os.getpid()}-bbbb"
  old_unknown, new_unknown = root / ".staging-0123456789abcdef", root / ".staging-fedcba9876543210"
  for folder in (dead, live, old_unknown, new_unknown):
    folder.mkdir(parents=True)
  two_days_ago = time.time() - 2 * 24 * 3600
  os.utime(old_unknown, (two_days_ago, two_days_ago))
  versioning.publish(str(root), _write)
  assert sorted(os.listdir(root)) == sorted(["1", live.name, new_unknown.name])


def test_the_newest_version_is_found_by_its_record(tmp_path):
  root = str(tmp_path / "imdb")
  record = {"model_dir": "/runs/imdb", "checkpoint": "ckpt-40", "decoding": {}}
  assert versioning.newest_version_with(root, record) is None
  first = versioning.publish(root, _write, record)
  assert versioning.newest_version_with(root, record) == first
  assert versioning.newest_version_with(root, dict(record, checkpoint="ckpt-80")) is None
  versioning.publish(root, _write)  # a newer version without a record: export again
  assert versioning.newest_version_with(root, record) is None
