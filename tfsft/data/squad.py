"""SQuAD-format question answering files (v1.1, and v2.0 with unanswerable questions), checked.

    {"version": ..., "data": [{"title": ..., "paragraphs": [{"context": ...,
        "qas": [{"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": N}],
                 "is_impossible": false}]}]}]}

Every answer must be found at its `answer_start` in the context; a mismatch is an error naming the
file, the line of the question's id and the fix (Model Garden's squad_lib only logs and skips such
examples, which hides broken files).
"""

import dataclasses
import json
from typing import List, Sequence, Tuple

from tfsft.errors import UserError


@dataclasses.dataclass(frozen=True)
class SquadExample:
  id: str
  question: str
  context: str
  answers: Sequence[Tuple[str, int]]  # (text, character offset in context)
  is_impossible: bool


def read_squad(path: str) -> List[SquadExample]:
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


def _line_of(text: str, question_id) -> int:
  """The line where the question's id appears (json gives no positions for parsed objects)."""
  position = text.find(json.dumps(str(question_id)))
  return text.count("\n", 0, position) + 1 if position >= 0 else 0
