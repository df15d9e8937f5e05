"""Which file of a --data_path directory holds which split: the one finder every local source uses
(tables, instruction data, sentence pairs, CoNLL; no TensorFlow, so readers of any kind use it)."""

import os
from typing import Callable, Dict, Optional, Sequence

from tfsft.errors import UserError

# The file stems a --data_path directory may hold, per split, in order of preference.
SPLIT_STEMS = {"train": ("train",), "validation": ("validation", "dev"), "test": ("test",)}


def find_split_files(data_path: Optional[str], extensions: Optional[Sequence[str]],
                     check_file: Callable[[str], None] = lambda path: None,
                     split_stems: Dict[str, Sequence[str]] = SPLIT_STEMS,
                     kind: str = "local files") -> Dict[str, str]:
  """Split name -> file for --data_path: a single file (which `check_file` may refuse) is the
  train split; a directory holds `<stem><extension>` files, the first stem (then extension, in
  the given order) found per split. `extensions=None` takes a stem with any extension, or none
  (CoNLL's eng.train, train.txt, train.iob2). The train split must exist; `kind` names what the
  source reads in the errors."""
  if not data_path:
    raise UserError(f"this task reads {kind}: pass --data_path=<file or directory>")
  if not os.path.exists(data_path):
    raise UserError(f"--data_path={data_path} does not exist: point it at {kind} (a file, or a "
                    f"directory with {split_stems['train'][0]}{(extensions or ('.*',))[0]})")
  if os.path.isfile(data_path):
    check_file(data_path)  # refuses an unreadable kind of file now, not after training starts
    return {"train": data_path}
  names = {name.lower(): name for name in sorted(os.listdir(data_path))
           if os.path.isfile(os.path.join(data_path, name))}
  files = {}
  for split_name, stems in split_stems.items():
    found = [names[name] for stem in stems for name in _candidates(stem, extensions, names)]
    if found:
      files[split_name] = os.path.join(data_path, found[0])
  if "train" not in files:
    raise UserError(f"--data_path={data_path} has no {_train_names(split_stems, extensions)} "
                    "file: add one or point --data_path at a single file")
  return files


def _train_names(split_stems, extensions) -> str:
  """train.tsv, train.<json|jsonl>, or "train or eng.train (any extension)"."""
  stems = "/".join(split_stems["train"])
  if extensions is None:
    return f"{' or '.join(split_stems['train'])} (any extension)"
  if len(extensions) == 1:
    return stems + extensions[0]
  return f"{stems}.<{'|'.join(extension.lstrip('.') for extension in extensions)}>"


def _candidates(stem: str, extensions: Optional[Sequence[str]], names) -> Sequence[str]:
  """The lower-cased names in `names` that `stem` matches, in order of preference."""
  if extensions is not None:
    return [stem + extension for extension in extensions if stem + extension in names]
  return [name for name in names if name == stem or os.path.splitext(name)[0] == stem]
