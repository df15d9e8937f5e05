"""Sentence pairs (source, target) for translation, from TFDS or local tab-separated files.

Local `--data_path`:
  a file        one `source<TAB>target` pair per line; further columns (e.g. Tatoeba's attribution)
                are ignored. Validation and test are carved from it by a seeded hash of the source.
  a directory   train.tsv, plus validation.tsv (or dev.tsv) and test.tsv when present; missing
                validation/test splits are carved from train.

Files are read in Python (line by line, so a bad line is named by number) into memory: translation
corpora that fit a CPU run are megabytes, and the check must run before any training starts.
"""

import numpy as np
import tensorflow as tf
from absl import logging

from tfsft.config import DataConfig
from tfsft.data import split_files, splits, tfds_loading
from tfsft.errors import UserError

DEFAULT_TFDS_NAME = "ted_hrlr_translate/pt_to_en"


def load(config: DataConfig, seed: int) -> splits.LabeledTextSplits:
  if config.data_path:
    by_split, source = _load_local(config.data_path)
  else:
    by_split, source = _load_tfds(config.tfds_name or DEFAULT_TFDS_NAME, config.tfds_data_dir)
  return splits.from_files(config, seed, by_split["train"], by_split.get("validation"),
                           by_split.get("test"), label_names=(), source=source)


def read_pairs(path: str):
  """(sources, targets) from a `source<TAB>target` file; a malformed line is a UserError naming it."""
  sources, targets = [], []
  try:
    with open(path, encoding="utf-8") as handle:
      for number, line in enumerate(handle, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
          continue
        columns = line.split("\t")
        if len(columns) < 2:
          raise UserError(f"{path} line {number} has one column ({line[:40]!r}): expected "
                          "source<TAB>target")
        source, target = columns[0].strip(), columns[1].strip()
        if not source or not target:
          raise UserError(f"{path} line {number} has an empty "
                          f"{'source' if not source else 'target'}: give both sides text")
        sources.append(source)
        targets.append(target)
  except UnicodeDecodeError as error:
    raise UserError(f"{path} is not valid UTF-8 ({error.reason} at byte {error.start}): re-encode "
                    "it as UTF-8") from None
  if not sources:
    raise UserError(f"{path} has no sentence pairs: expected source<TAB>target lines")
  return sources, targets


def _load_local(path: str):
  # train.tsv, validation.tsv (or dev.tsv), test.tsv
  files = split_files.find_split_files(path, (".tsv",),
                                       kind="sentence pairs (source<TAB>target lines)")
  by_split = {}
  for split_name, file_path in files.items():
    sources, targets = read_pairs(file_path)
    logging.info("Read %d sentence pairs from %s.", len(sources), file_path)
    by_split[split_name] = tf.data.Dataset.from_tensor_slices(
        (np.array(sources, dtype=object), np.array(targets, dtype=object)))
  return by_split, f"local sentence pairs {path} ({', '.join(sorted(files))})"


def _load_tfds(name: str, data_dir):
  by_split, _, source = tfds_loading.load(name, ["train"], "source<TAB>target file", data_dir,
                                          optional_splits=("validation", "test"),
                                          as_supervised=True)
  return by_split, source
