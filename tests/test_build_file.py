"""BUILD lists every Python file of the packages and the tests, and nothing that is gone."""

import glob
import os
import re

from conftest import REPO


def test_build_file_matches_the_source_tree():
  with open(os.path.join(REPO, "BUILD")) as handle:
    listed = set(re.findall(r'"((?:tfsft|pipelines|tests)/[\w/]+\.py)"', handle.read()))
  on_disk = {os.path.relpath(path, REPO)
             for pattern in ("tfsft/**/*.py", "pipelines/**/*.py", "tests/**/*.py")
             for path in glob.glob(os.path.join(REPO, pattern), recursive=True)}
  assert sorted(on_disk - listed) == [], "add these to BUILD"
  assert sorted(listed - on_disk) == [], "remove these from BUILD"
