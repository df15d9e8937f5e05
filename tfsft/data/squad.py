"""SQuAD-format question answering files (v1.1, and v2.0 with unanswerable questions), checked.

    {"version": ..., "data": [{"title": ..., "paragraphs": [{"context": ...,
        "qas": [{"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": N}],
                 "is_impossible": false}]}]}]}

A TFX Examples artifact (`Split-*/` folders of tf.Example with question, context, answer_text and
answer_start, as TFDS and the pipelines lay SQuAD out) reads too.

Every answer must be found at its `answer_start` in the context; a mismatch is an error naming the
file, the line of the question's id and the fix (Model Garden's squad_lib only logs and skips such
examples, which hides broken files).
"""

import dataclasses
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from tfsft.config import DataConfig
from tfsft.data import splits, tables, tfds_loading, tfx_examples
from tfsft.errors import UserError

# File names per split in a --data_path directory (the SQuAD release names its files like these).
SPLIT_FILES = {"train": ("train", "train-v1.1", "train-v2.0"),
               "validation": ("validation", "dev", "dev-v1.1", "dev-v2.0"),
               "test": ("test",)}


@dataclasses.dataclass(frozen=True)
class SquadExample:
  id: str
  question: str
  context: str
  answers: Sequence[Tuple[str, int]]  # (text, character offset in context)
  is_impossible: bool


def read_squad(path: str) -> List[SquadExample]:
  if tfx_examples.is_split_dir(path):
    return _read_examples(path)
  try:
    with open(path, encoding="utf-8") as handle:
      text = handle.read()
  except FileNotFoundError:
    raise UserError(f"{path} does not exist") from None
  except UnicodeDecodeError as error:
    raise UserError(f"{path} is not valid UTF-8 ({error.reason}): re-encode it as UTF-8") from None
  try:
    document = json.loads(text)
  except json.JSONDecodeError as error:
    raise UserError(f"{path} line {error.lineno} is not valid JSON ({error.msg})") from None
  examples = []
  try:
    for article in document["data"]:
      for paragraph in article["paragraphs"]:
        context = paragraph["context"]
        for qa in paragraph["qas"]:
          examples.append(_example(path, text, qa, context))
  except (KeyError, TypeError) as error:
    raise UserError(f"{path} is not in SQuAD format (missing or malformed {error}): expected "
                    "data[].paragraphs[].{context, qas[].{id, question, answers}}") from None
  if not examples:
    raise UserError(f"{path} has no questions")
  return examples


def _example(path, text, qa, context) -> SquadExample:
  impossible = bool(qa.get("is_impossible", False))
  answers = []
  for answer in qa["answers"]:
    start, answer_text = int(answer["answer_start"]), answer["text"]
    if context[start:start + len(answer_text)] != answer_text:
      found = context.find(answer_text)
      hint = (f"the text occurs at {found}" if found >= 0 else "the text is not in the context")
      raise UserError(
          f"{path} line {_line_of(text, qa['id'])}: question {qa['id']!r} has answer "
          f"{answer_text!r} at answer_start={start}, but the context there reads "
          f"{context[start:start + len(answer_text)]!r} ({hint}): fix answer_start")
    answers.append((answer_text, start))
  if not answers and not impossible:
    raise UserError(f"{path} line {_line_of(text, qa['id'])}: question {qa['id']!r} has no answers "
                    "and is not marked is_impossible (SQuAD 2.0): add one or mark it")
  return SquadExample(str(qa["id"]), qa["question"], context, tuple(answers), impossible)


def _read_examples(split_dir: str) -> List[SquadExample]:
  """A Split-* folder of tf.Examples as TFDS lays SQuAD out (question, context, answer_text,
  answer_start: what the pipelines' ExampleGen writes); each record's place is its id."""
  examples = []
  for where, row in tables.example_rows(split_dir, all_values=True):
    try:
      (question,), (context,) = row["question"], row["context"]
    except (KeyError, ValueError):
      raise UserError(f"{where} needs one `question` and one `context`: write them as bytes "
                      "features") from None
    answers = tuple(zip(row.get("answer_text", []), row.get("answer_start", [])))
    for text, start in answers:
      if context[start:start + len(text)] != text:
        raise UserError(f"{where}: answer {text!r} is not at answer_start={start} of its "
                        "context: fix answer_start")
    examples.append(SquadExample(where, question, context, answers, is_impossible=not answers))
  if not examples:
    raise UserError(f"{split_dir} has no examples")
  return examples


def _line_of(text: str, question_id) -> int:
  """The line where the question's id appears (json gives no positions for parsed objects)."""
  position = text.find(json.dumps(str(question_id)))
  return text.count("\n", 0, position) + 1 if position >= 0 else 0


def load(config: DataConfig, seed: int) -> splits.LabeledTextSplits:
  """Examples ((question, context), answers) from local SQuAD JSON or TFDS `squad/v1.1|v2.0`.

  `answers` is one string, "start:end ..." with the byte offsets of every reference answer in the
  context ("" when there is none), so examples batch like text and the evaluation can cut each
  reference out of the context exactly. A single file is split by a hash of the context: all
  questions on one paragraph stay on the same side.
  """
  if config.data_path:
    by_split, source = _load_local(config.data_path)
  else:
    by_split, source = _load_tfds(config)
  if not config.version_2_with_negative:
    for split_name, examples in by_split.items():
      unanswerable = next((example for example in examples if example.is_impossible), None)
      if unanswerable:
        raise UserError(f"{source}: the {split_name} split has unanswerable questions (SQuAD 2.0), "
                        f"e.g. {unanswerable.id!r}: pass --version_2_with_negative")
  datasets = {name: _dataset(examples) for name, examples in by_split.items()}
  return splits.from_files(config, seed, datasets["train"], datasets.get("validation"),
                           datasets.get("test"), label_names=(), source=source,
                           split_key=lambda text: text[1])


def _load_local(path) -> Tuple[Dict[str, List[SquadExample]], str]:
  if tfx_examples.is_examples_dir(path):
    folders = tfx_examples.tfsft_splits(path)
    return ({split_name: read_squad(folder) for split_name, folder in folders.items()},
            f"TFX Examples {path} ({', '.join(sorted(folders))})")
  if not os.path.exists(path):
    raise UserError(f"--data_path={path} does not exist: point it at a SQuAD JSON file or a "
                    "directory with train.json (or train-v1.1.json)")
  if os.path.isfile(path):
    files = {"train": path}
  else:
    files = {}
    for split_name, stems in SPLIT_FILES.items():
      found = [os.path.join(path, f"{stem}.json") for stem in stems
               if os.path.isfile(os.path.join(path, f"{stem}.json"))]
      if found:
        files[split_name] = found[0]
    if "train" not in files:
      raise UserError(f"--data_path={path} has no train.json (or train-v1.1.json): add one or "
                      "point --data_path at a single SQuAD JSON file")
  by_split = {}
  for split_name, file in files.items():
    by_split[split_name] = read_squad(file)
    logging.info("Read %d questions from %s.", len(by_split[split_name]), file)
  return by_split, f"local SQuAD JSON {path} ({', '.join(sorted(files))})"


def _load_tfds(config):
  name = config.tfds_name or ("squad/v2.0" if config.version_2_with_negative else "squad/v1.1")
  loaded, _, source = tfds_loading.load(name, ["train", "validation"],
                                        "SQuAD JSON file or directory", config.tfds_data_dir)
  by_split = {}
  for split_name, dataset in loaded.items():
    by_split[split_name] = [
        SquadExample(row["id"].decode(), row["question"].decode(), row["context"].decode(),
                     tuple((text.decode(), int(start)) for text, start in
                           zip(row["answers"]["text"], row["answers"]["answer_start"])),
                     is_impossible=len(row["answers"]["text"]) == 0)
        for row in dataset.as_numpy_iterator()]
  return by_split, source


def answer_byte_spans(answers: bytes) -> List[Tuple[int, int]]:
  """The (start, end) context byte offsets in one `answers` string of `load`'s examples."""
  return [tuple(int(offset) for offset in span.split(b":")) for span in answers.split()]


def _dataset(examples: Sequence[SquadExample]) -> tf.data.Dataset:
  def byte_spans(example):
    spans = []
    for text, start in example.answers:
      byte_start = len(example.context[:start].encode("utf-8"))
      spans.append(f"{byte_start}:{byte_start + len(text.encode('utf-8'))}")
    return " ".join(spans)

  questions = np.array([example.question for example in examples], dtype=object)
  contexts = np.array([example.context for example in examples], dtype=object)
  answers = np.array([byte_spans(example) for example in examples], dtype=object)
  return tf.data.Dataset.from_tensor_slices(((questions, contexts), answers))
