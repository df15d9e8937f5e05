"""TFX's layout of an Examples artifact, which tfsft's pipelines write and every task that reads
labeled files (text_classification) takes as --data_path:

    <uri>/Split-train/data_tfrecord-00000-of-00001.gz   gzipped TFRecords of tf.Example
    <uri>/Split-eval/...                                TFX's name for the held-out split
    <uri>/Split-test/...                                optional

No TensorFlow here: the pipelines' Beam workers and tfsft's readers both import it.
"""

import glob
import os
from typing import Dict, List

SPLIT_PREFIX = "Split-"
FILE_PREFIX = "data_tfrecord"
FILE_SUFFIX = ".gz"
# tfsft split name -> the split folder names that hold it, in order of preference.
SPLIT_FOLDERS = {"train": ("train",), "validation": ("eval", "validation"), "test": ("test",)}


def split_dir(uri: str, split: str) -> str:
  return os.path.join(uri, SPLIT_PREFIX + split)


def is_examples_dir(path) -> bool:
  return bool(path) and os.path.isdir(split_dir(path, "train"))


def split_names(uri: str) -> List[str]:
  """The splits an Examples artifact holds, as TFX names them (train, eval, test, ...)."""
  return sorted(name[len(SPLIT_PREFIX):] for name in os.listdir(uri)
                if name.startswith(SPLIT_PREFIX) and os.path.isdir(os.path.join(uri, name)))


def shard_files(split_directory: str) -> List[str]:
  return sorted(glob.glob(os.path.join(split_directory, f"*{FILE_SUFFIX}")))


def is_split_dir(path: str) -> bool:
  return os.path.isdir(path) and os.path.basename(os.path.normpath(path)).startswith(SPLIT_PREFIX)


def tfsft_splits(uri: str) -> Dict[str, str]:
  """tfsft split name -> its Split-* folder (train always; validation and test where present)."""
  present = set(split_names(uri))
  found = {}
  for split, folders in SPLIT_FOLDERS.items():
    names = [name for name in folders if name in present]
    if names:
      found[split] = split_dir(uri, names[0])
  return found
