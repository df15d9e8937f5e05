"""Sentence pairs (source, target) for translation, from TFDS or local tab-separated files.

Local `--data_path`:
  a file        one `source<TAB>target` pair per line; further columns (e.g. Tatoeba's attribution)
                are ignored. Validation and test are carved from it by a seeded hash of the source.
  a directory   train.tsv, plus validation.tsv (or dev.tsv) and test.tsv when present; missing
                validation/test splits are carved from train.

Files are read in Python (line by line, so a bad line is named by number) into memory: translation
corpora that fit a CPU run are megabytes, and the check must run before any training starts.
"""

import os

import numpy as np
import tensorflow as tf
from absl import logging

from tfsft.config import DataConfig
from tfsft.data import splits
from tfsft.data.tfds_loading import tfds_failures_as_user_errors
from tfsft.errors import UserError

DEFAULT_TFDS_NAME = "ted_hrlr_translate/pt_to_en"
_SPLIT_FILES = {"train": ("train.tsv",), "validation": ("validation.tsv", "dev.tsv"),
                "test": ("test.tsv",)}


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
  if not os.path.exists(path):
    raise UserError(f"--data_path={path} does not exist: point it at a source<TAB>target file or "
                    "a directory with train.tsv")
  if os.path.isfile(path):
    files = {"train": path}
  else:
    files = {}
    for split_name, candidates in _SPLIT_FILES.items():
      found = [os.path.join(path, name) for name in candidates
               if os.path.isfile(os.path.join(path, name))]
      if found:
        files[split_name] = found[0]
    if "train" not in files:
      raise UserError(f"--data_path={path} has no train.tsv: add one (source<TAB>target per line) "
                      "or point --data_path at a single pairs file")
  by_split = {}
  for split_name, file_path in files.items():
    sources, targets = read_pairs(file_path)
    logging.info("Read %d sentence pairs from %s.", len(sources), file_path)
    by_split[split_name] = tf.data.Dataset.from_tensor_slices(
        (np.array(sources, dtype=object), np.array(targets, dtype=object)))
  return by_split, f"local sentence pairs {path} ({', '.join(sorted(files))})"


def _load_tfds(name: str, data_dir):
  import tensorflow_datasets as tfds  # only TFDS users pay for the import
  with tfds_failures_as_user_errors(name, "source<TAB>target file"):
    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()
    available = set(builder.info.splits)
    by_split = {split_name: builder.as_dataset(split=split_name, as_supervised=True)
                for split_name in ("train", "validation", "test") if split_name in available}
  return by_split, f"TFDS {name} (data_dir={data_dir or 'default'})"
