"""Checks that a run's output folders can be written, made before any training starts.

A run that trains for an hour and then finds --export_dir is a file has wasted the hour; tfsft
checks every output location first (the README promises bad input fails before anything is
touched). The check creates nothing: it probes the nearest existing folder with an anonymous
temporary file.
"""

import os
import tempfile

from tfsft.errors import UserError


def check_writable_directory(path: str, flag: str):
  """Raises a UserError unless `path` is a directory, or could be created as one, that this
  process can write into. `flag` names the setting in the message (e.g. "--export_dir")."""
  if os.path.exists(path) and not os.path.isdir(path):
    raise UserError(f"{flag}={path} is a file: pass a directory")
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise UserError(f"{flag}={path} cannot be created: {existing} is a file, not a folder")
  try:
    with tempfile.TemporaryFile(dir=existing):
      pass
  except OSError as error:
    raise UserError(f"{flag}={path} is not writable ({error.strerror} in {existing}): choose a "
                    "folder you can write to") from None


def check_output_file(path: str):
  """A missing folder is refused rather than created: a mistyped path should fail, not leave new
  folders behind."""
  folder = os.path.dirname(os.path.abspath(path))
  if os.path.isdir(path):
    raise UserError(f"--output_file={path} is a folder: pass a file path")
  if not os.path.isdir(folder):
    raise UserError(f"--output_file={path}: folder {folder} does not exist: create it, or pass a "
                    "path in an existing folder")
