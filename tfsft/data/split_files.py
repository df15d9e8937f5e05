"""Which file of a --data_path directory holds which split (no TensorFlow: readers of any kind
use it)."""

import os
from typing import Callable, Dict, Optional, Sequence

from tfsft.errors import UserError

# The file stems a --data_path directory may hold, per split, in order of preference.
SPLIT_STEMS = {"train": ("train",), "validation": ("validation", "dev"), "test": ("test",)}


def find_split_files(data_path: Optional[str], extensions: Sequence[str],
                     check_file: Callable[[str], None],
                     split_stems: Dict[str, Sequence[str]] = SPLIT_STEMS) -> Dict[str, str]:
  """Split name -> file for --data_path: a single file (which `check_file` may refuse) is the
  train split; a directory holds `<stem><extension>` files, the first stem (then extension, in
  the given order) found per split. The train split must exist."""
  if not data_path:
    raise UserError("this task reads local files: pass --data_path=<file or directory>")
  if not os.path.exists(data_path):
    raise UserError(f"--data_path={data_path} does not exist")
  if os.path.isfile(data_path):
    check_file(data_path)  # refuses an unreadable kind of file now, not after training starts
    return {"train": data_path}
  names = {name.lower(): name for name in os.listdir(data_path)}
  files = {}
  for split_name, stems in split_stems.items():
    found = [names[stem + extension] for stem in stems for extension in extensions
             if stem + extension in names]
    if found:
      files[split_name] = os.path.join(data_path, found[0])
  if "train" not in files:
    kinds = "|".join(extension.lstrip(".") for extension in extensions)
    raise UserError(f"--data_path={data_path} has no {'/'.join(split_stems['train'])}.<{kinds}> "
                    "file: add one or point --data_path at a single file")
  return files
