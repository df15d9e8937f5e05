import os

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
