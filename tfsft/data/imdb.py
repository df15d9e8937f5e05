"""IMDb movie reviews (Maas et al., 2011) from TFDS or from the original Large Movie Review layout.

Local layout, as an extracted directory or the `.tar.gz` itself (read in memory, never extracted):

    aclImdb/train/{pos,neg}/<id>_<rating>.txt   required
    aclImdb/test/{pos,neg}/<id>_<rating>.txt    optional; evaluated when present
"""

import os
import re
import tarfile

import numpy as np
import tensorflow as tf
from absl import logging

from tfsft.config import DataConfig
from tfsft.data import splits, tfds_loading
from tfsft.data.text_checks import checked_text
from tfsft.errors import UserError

TFDS_NAME = "imdb_reviews"
LABEL_NAMES = ("neg", "pos")
_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/[^/]+\.txt$")


def load(config: DataConfig, seed: int) -> splits.LabeledTextSplits:
  if config.data_path:
    train, test, source = _load_local(config.data_path, seed)
  else:
    train, test, source = _load_tfds(config.tfds_data_dir)
  train, validation = splits.carve_validation(train, config.validation_fraction, seed)
  return splits.LabeledTextSplits(
      train=splits.limit(train, config.max_train_examples),
      validation=splits.limit(validation, config.max_eval_examples),
      test=splits.limit(test, config.max_eval_examples),
      label_names=LABEL_NAMES,
      source=source)


def _load_tfds(data_dir):
  loaded, info, source = tfds_loading.load(TFDS_NAME, ["train", "test"],
                                           "aclImdb directory or aclImdb_v1.tar.gz", data_dir,
                                           as_supervised=True)
  if tuple(info.features["label"].names) != LABEL_NAMES:
    raise UserError(f"TFDS '{TFDS_NAME}' has labels {info.features['label'].names}, "
                    f"expected {list(LABEL_NAMES)}")
  as_int32 = lambda text, label: (text, tf.cast(label, tf.int32))
  return loaded["train"].map(as_int32), loaded["test"].map(as_int32), source


def _load_local(path, seed):
  if not os.path.exists(path):
    raise UserError(f"--data_path={path} does not exist: point it at an aclImdb directory or "
                    "aclImdb_v1.tar.gz")
  if os.path.isdir(path):
    by_split = _list_directory(path)
    kind = "directory"
  elif tarfile.is_tarfile(path):
    by_split = _read_tarball(path)
    kind = "tarball"
  else:
    raise UserError(f"--data_path={path} is neither a directory nor a tar archive: point it at an "
                    "aclImdb directory or aclImdb_v1.tar.gz")
  if not by_split.get("train"):
    raise UserError(f"--data_path={path} has no train/pos/*.txt or train/neg/*.txt reviews: "
                    "expected the aclImdb layout (aclImdb/train/{pos,neg}/*.txt)")
  for split_name, examples in by_split.items():
    labels = {label for _, label, _ in examples}
    if len(labels) < 2:
      raise UserError(f"--data_path={path}: {split_name}/ has only {LABEL_NAMES[labels.pop()]}/ "
                      "reviews; both pos/ and neg/ are needed")
  datasets = {name: _to_dataset(examples, seed) for name, examples in by_split.items()}
  counts = ", ".join(f"{name}: {len(examples)} reviews" for name, examples in by_split.items())
  logging.info("Read IMDb %s %s (%s).", kind, path, counts)
  return datasets["train"], datasets.get("test"), f"local aclImdb {kind} {path}"


def _list_directory(path):
  """Finds review files; their contents are read later, in parallel, by tf.data."""
  root = path if os.path.isdir(os.path.join(path, "train")) else os.path.join(path, "aclImdb")
  by_split = {}
  for split_name in ("train", "test"):
    for label, label_name in enumerate(LABEL_NAMES):
      folder = os.path.join(root, split_name, label_name)
      if not os.path.isdir(folder):
        continue
      for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.endswith(".txt"):
          by_split.setdefault(split_name, []).append((entry.path, label, None))
  return by_split


def _read_tarball(path):
  """Reads matching members into memory: a tar stream cannot be read in parallel by tf.data."""
  by_split = {}
  try:
    with tarfile.open(path, "r:*") as archive:
      for member in archive:
        match = _MEMBER.search(member.name)
        if member.isfile() and match:
          split_name, label_name = match.groups()
          text = archive.extractfile(member).read()
          by_split.setdefault(split_name, []).append(
              (f"{path}:{member.name}", LABEL_NAMES.index(label_name), text))
  except (tarfile.TarError, EOFError, OSError) as error:
    raise UserError(f"--data_path={path} is not a readable tar archive ({error}): re-download "
                    "it or extract it and pass the directory") from None
  return by_split


def _to_dataset(examples, seed):
  """(origin, label, text or None) rows -> a checked dataset of (text, label) in a seeded order.

  The seeded permutation makes --max_train_examples slices mix both classes; the files themselves
  are grouped by label.
  """
  order = np.random.default_rng(seed).permutation(len(examples))
  origins = np.array([examples[i][0] for i in order])
  labels = np.array([examples[i][1] for i in order], np.int32)
  if examples[0][2] is None:
    dataset = tf.data.Dataset.from_tensor_slices((origins, labels)).map(
        lambda origin, label: (origin, tf.io.read_file(origin), label),
        num_parallel_calls=tf.data.AUTOTUNE)
  else:
    texts = np.array([examples[i][2] for i in order], dtype=object)
    dataset = tf.data.Dataset.from_tensor_slices((origins, texts, labels))
  return dataset.map(lambda origin, text, label: (checked_text(text, origin), label),
                     num_parallel_calls=tf.data.AUTOTUNE)
