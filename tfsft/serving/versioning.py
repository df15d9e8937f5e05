"""Numeric version folders under a TF Serving model base path, published atomically.

TF Serving watches <base>/<integer>/ and loads the highest version. A model is written into a
hidden, non-numeric folder the server ignores, then renamed into place in one step, so a watching
server never loads half a model.
"""

import os
import shutil
import uuid

from tfsft.errors import UserError


def existing_versions(export_root: str):
  if not os.path.isdir(export_root):
    return []
  return sorted(int(name) for name in os.listdir(export_root) if name.isdigit())


def publish(export_root: str, write_into) -> str:
  """Calls `write_into(staging_dir)`, then renames the staging dir to the next version number."""
  if os.path.exists(export_root) and not os.path.isdir(export_root):
    raise UserError(f"--export_dir={export_root} is a file: pass a directory")
  os.makedirs(export_root, exist_ok=True)
  staging = os.path.join(export_root, f".staging-{uuid.uuid4().hex}")
  try:
    write_into(staging)
    version = (existing_versions(export_root) or [0])[-1] + 1
    final = os.path.join(export_root, str(version))
    os.rename(staging, final)  # atomic on one file system; fails rather than overwrite
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return final
