"""CoNLL-format token tagging files (CoNLL-2003 NER and any other tag set), and TFDS conll2003.

One token per line, the tag in the last column (2 columns: `token TAG`; 4 columns, as in the
CoNLL-2003 release: `token POS chunk TAG`), a blank line between sentences, `-DOCSTART-` lines
between documents (skipped). A line with a token but no tag is an error naming the file and line.
A TFX Examples artifact (`Split-*/` folders of tf.Example with `tokens` and `tags` lists, as the
pipelines write them) reads too.

Examples are (words, tag ids), each one space-joined string: CoNLL words hold no whitespace, so
`tf.strings.split` gives them back exactly, and sentences then batch, hash-split and count like any
other text example.
"""

import dataclasses
from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from tfsft.config import DataConfig
from tfsft.data import split_files, splits, tables, tfds_loading, tfx_examples
from tfsft.errors import UserError

DOCUMENT_START = "-DOCSTART-"
DEFAULT_TFDS_NAME = "conll2003"
# File names per split: a directory such as ../shared/data/conll2003 (train.txt, valid.txt) or the
# original release (eng.train, eng.testa, eng.testb).
SPLIT_FILES = {"train": ("train", "eng.train"),
               "validation": ("validation", "valid", "dev", "eng.testa"),
               "test": ("test", "eng.testb")}


@dataclasses.dataclass(frozen=True)
class TaggedSentence:
  words: Sequence[str]
  tags: Sequence[str]
  line: int  # where the sentence starts, for error messages


def read_conll(path: str) -> List[TaggedSentence]:
  if tfx_examples.is_split_dir(path):
    return _read_examples(path)
  sentences, words, tags, start = [], [], [], 0
  try:
    with open(path, encoding="utf-8") as handle:
      for number, line in enumerate(handle, start=1):
        columns = line.split()
        if not columns or columns[0] == DOCUMENT_START:
          if words:
            sentences.append(TaggedSentence(tuple(words), tuple(tags), start))
          words, tags = [], []
          continue
        if len(columns) < 2:
          raise UserError(f"{path} line {number} has a token but no tag ({line.strip()!r}): "
                          "expected `token TAG` or `token POS chunk TAG`")
        if not words:
          start = number
        words.append(columns[0])
        tags.append(columns[-1])
  except FileNotFoundError:
    raise UserError(f"{path} does not exist") from None
  except UnicodeDecodeError as error:
    raise UserError(f"{path} is not valid UTF-8 ({error.reason}): re-encode it as UTF-8") from None
  if words:
    sentences.append(TaggedSentence(tuple(words), tuple(tags), start))
  if not sentences:
    raise UserError(f"{path} has no tagged sentences: expected CoNLL lines `token TAG`")
  return sentences


def _read_examples(split_dir: str) -> List[TaggedSentence]:
  """A Split-* folder of tf.Examples with `tokens` and `tags` (the pipelines' ExampleGen writes
  them); `line` is the record's number."""
  sentences = []
  for number, (where, row) in enumerate(tables.example_rows(split_dir, all_values=True), start=1):
    words, tags = row.get("tokens"), row.get("tags")
    if not words or tags is None or len(words) != len(tags):
      raise UserError(f"{where} needs `tokens` and `tags` features of equal, non-zero length: "
                      "write one tag per word")
    sentences.append(TaggedSentence(tuple(words), tuple(tags), number))
  if not sentences:
    raise UserError(f"{split_dir} has no examples")
  return sentences


def tag_names(sentences: Sequence[TaggedSentence]) -> List[str]:
  """The training split's tags: `O` first (when present), then the rest sorted, so B-X and I-X of
  one entity type sit side by side."""
  tags = {tag for sentence in sentences for tag in sentence.tags}
  return (["O"] if "O" in tags else []) + sorted(tags - {"O"}, key=lambda tag: (tag[2:], tag))


def load(config: DataConfig, seed: int, tfds_name=None) -> splits.LabeledTextSplits:
  """Local CoNLL files from --data_path, else (with `tfds_name`) the TFDS data set."""
  if config.data_path or not tfds_name:
    by_split, tags, source = _load_local(config.data_path)
  else:
    by_split, tags, source = _load_tfds(tfds_name, config.tfds_data_dir)
  return splits.from_files(config, seed, by_split["train"], by_split.get("validation"),
                           by_split.get("test"), label_names=tags, source=source)


def find_files(path) -> Dict[str, str]:
  if tfx_examples.is_examples_dir(path):
    return tfx_examples.tfsft_splits(path)
  return split_files.find_split_files(path, None, split_stems=SPLIT_FILES, kind="CoNLL files")


def _load_local(path):
  files = find_files(path)
  sentences = {split_name: read_conll(file) for split_name, file in files.items()}
  tags = tag_names(sentences["train"])
  for split_name, file in files.items():
    _check_known_tags(sentences[split_name], tags, file)
    logging.info("Read %d tagged sentences from %s.", len(sentences[split_name]), file)
  by_split = {split_name: _dataset(sentences[split_name], tags) for split_name in files}
  return by_split, tags, f"local CoNLL files {path} ({', '.join(sorted(files))})"


def _check_known_tags(sentences, tags, path):
  known = set(tags)
  for sentence in sentences:
    for offset, tag in enumerate(sentence.tags):
      if tag not in known:
        raise UserError(f"{path} line {sentence.line + offset} has tag {tag!r}, which the training "
                        f"file never uses ({', '.join(tags)}): fix the tag or add examples of it "
                        "to train")


def _dataset(sentences, tags) -> tf.data.Dataset:
  index = {tag: str(i) for i, tag in enumerate(tags)}
  words = np.array([" ".join(s.words) for s in sentences], dtype=object)
  tag_ids = np.array([" ".join(index[tag] for tag in s.tags) for s in sentences], dtype=object)
  return tf.data.Dataset.from_tensor_slices((words, tag_ids))


def _load_tfds(name, data_dir):
  loaded, info, source = tfds_loading.load(name, ["train", "dev", "test"],
                                           "directory of CoNLL files", data_dir)
  tags = info.features["ner"].feature.names

  def as_example(row):
    return (tf.strings.reduce_join(row["tokens"], separator=" "),
            tf.strings.reduce_join(tf.strings.as_string(row["ner"]), separator=" "))

  by_split = {"train": loaded["train"], "validation": loaded["dev"], "test": loaded["test"]}
  return {split: dataset.map(as_example) for split, dataset in by_split.items()}, tags, source
