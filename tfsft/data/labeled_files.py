"""Labeled text (single or pairs) from users' files, by column name, into train / validation / test.

`--data_path` is a file (validation and test are carved from it by a seeded hash), a directory
with `train.<ext>` and optional `validation.<ext>` (or `dev.<ext>`) and `test.<ext>`, in any format
tables.py reads, or a TFX Examples artifact (`Split-train/`, `Split-eval/`, ...: tfx_examples.py). Class labels are strings; `label_names` fixes their order (GLUE), or they are
discovered from the training split (sorted; numerically when all are numbers).
"""

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from tfsft.config import DataConfig
from tfsft.data import split_files, splits, tables, tfx_examples
from tfsft.errors import UserError



@dataclasses.dataclass(frozen=True)
class Columns:
  text: str
  label: str
  text_pair: Optional[str] = None
  headerless_names: Optional[Tuple[str, ...]] = None  # all columns, for files without a header

  def names(self):
    return [self.text] + ([self.text_pair] if self.text_pair else []) + [self.label]


def load(config: DataConfig, seed: int, columns: Columns, regression: bool,
         label_names: Optional[Sequence[str]] = None, label_values: Optional[Sequence[str]] = None,
         split_stems: Dict[str, Sequence[str]] = split_files.SPLIT_STEMS
         ) -> splits.LabeledTextSplits:
  """`label_values[i]` is how the files write class `label_names[i]` (default: the name itself)."""
  files = find_files(config.data_path, split_stems)
  read = {name: _read(path, columns) for name, path in files.items()}
  if regression:
    label_names = ()
  elif label_names is None:
    label_names = _discover_labels(read["train"][1])
  values = list(label_values or label_names)
  datasets = {name: _to_dataset(*rows, regression, values) for name, rows in read.items()}
  counts = ", ".join(f"{name}: {len(rows[1])}" for name, rows in read.items())
  logging.info("Read %s (%s); labels: %s.", config.data_path, counts,
               ", ".join(label_names) if label_names else "numeric (regression)")
  return splits.from_files(
      config, seed, datasets["train"], datasets.get("validation"), datasets.get("test"),
      label_names, source=f"local files {', '.join(f'{name}={path}' for name, path in files.items())}")


def find_files(path: Optional[str], split_stems=split_files.SPLIT_STEMS) -> Dict[str, str]:
  """Split name -> file: the file itself as train, a directory's <split>.<ext> files, or an
  Examples artifact's Split-* folders."""
  if tfx_examples.is_examples_dir(path):
    return tfx_examples.tfsft_splits(path)
  return split_files.find_split_files(path, list(tables.FORMATS), tables.file_format, split_stems)


def dataset_from_file(path: str, columns: Columns, regression: bool, label_values: Sequence[str]):
  """One file's (inputs, target) examples, with no splitting."""
  return _to_dataset(*_read(path, columns), regression, list(label_values))


def _read(path, columns: Columns):
  text_column = _resolve_text_column(path, columns)
  names = [text_column] + ([columns.text_pair] if columns.text_pair else []) + [columns.label]
  values, locations = tables.read_columns(path, names, columns.headerless_names)
  texts = [values[text_column]] + ([values[columns.text_pair]] if columns.text_pair else [])
  return texts, values[columns.label], locations


def _resolve_text_column(path, columns: Columns):
  """The text column's name in this file. A single-text file whose header lacks it but has exactly
  one other column uses that one, and the log says so (SST-2 copies name it `content`)."""
  header = tables.header(path)
  if header is None or columns.text in header or columns.text_pair:
    return columns.text
  others = [name for name in header if name != columns.label]
  if len(others) != 1:
    return columns.text  # read_columns names the missing column and lists the file's columns
  logging.warning("%s has no '%s' column; reading its only other column '%s' as the text.", path,
                  columns.text, others[0])
  return others[0]


def _discover_labels(labels):
  distinct = set(labels)
  try:
    ordered = sorted(distinct, key=float)
  except ValueError:
    ordered = sorted(distinct)
  if len(ordered) < 2:
    raise UserError(f"the training split has a single label ({ordered[0]!r}): classification "
                    "needs at least two (numeric targets: --regression)")
  _warn_if_two_vocabularies(ordered)
  return ordered


def _warn_if_two_vocabularies(labels):
  """Labels such as pos/neg/0/1 or pos/POS are most likely one class set written two ways, which
  would silently train twice as many classes; the user decides, so this warns."""
  numeric = [label for label in labels if _is_number(label)]
  words = [label for label in labels if not _is_number(label)]
  by_spelling = {}
  for label in labels:
    by_spelling.setdefault(label.strip().lower(), []).append(label)
  variants = [group for group in by_spelling.values() if len(group) > 1]
  if numeric and words:
    logging.warning("The training labels mix numbers (%s) and words (%s): if they name the same "
                    "classes, write them one way; each distinct label is its own class.",
                    ", ".join(numeric), ", ".join(words))
  for group in variants:
    logging.warning("The training labels %s differ only in case or spaces and are separate "
                    "classes: write them one way if they mean the same.", " / ".join(map(repr, group)))


def _is_number(label: str) -> bool:
  try:
    float(label)
  except ValueError:
    return False
  return True


def _to_dataset(texts, labels, locations, regression, values):
  if regression:
    targets = np.array([_number(label, where) for label, where in zip(labels, locations)],
                       np.float32)
  else:
    index = {value: i for i, value in enumerate(values)}
    unknown = [(label, where) for label, where in zip(labels, locations) if label not in index]
    if unknown:
      label, where = unknown[0]
      raise UserError(f"{where}: label {label!r} is not one of {', '.join(map(repr, values))} "
                      "(the labels of the training split): fix the row")
    targets = np.array([index[label] for label in labels], np.int32)
  inputs = tuple(np.array(column, dtype=object) for column in texts)
  return tf.data.Dataset.from_tensor_slices((inputs if len(inputs) > 1 else inputs[0], targets))


def _number(label, where):
  try:
    return float(label)
  except ValueError:
    raise UserError(f"{where}: label {label!r} is not a number, which --regression needs") from None
