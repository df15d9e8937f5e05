"""SQuAD JSON reading: v1.1 and v2.0 examples, and answers whose offsets do not match their text."""

import json

import pytest

from tfsft.data.squad import read_squad
from tfsft.errors import UserError

CONTEXT = "Keras was released in 2015 by François Chollet."


def _write(tmp_path, qas):
  document = {"version": "v2.0", "data": [{"title": "Keras", "paragraphs": [
      {"context": CONTEXT, "qas": qas}]}]}
  path = tmp_path / "squad.json"
  path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
  return str(path)


def test_answerable_and_unanswerable_questions(tmp_path):
  path = _write(tmp_path, [
      {"id": "q1", "question": "Who wrote Keras?", "answers": [{"text": "François Chollet",
                                                               "answer_start": 30}]},
      {"id": "q2", "question": "When was JAX released?", "answers": [], "is_impossible": True},
  ])
  first, second = read_squad(path)
  assert first.answers == (("François Chollet", 30),) and not first.is_impossible
  assert second.answers == () and second.is_impossible


def test_an_answer_at_the_wrong_offset_names_the_line_and_the_fix(tmp_path):
  path = _write(tmp_path, [
      {"id": "q1", "question": "What?", "answers": [{"text": "Keras", "answer_start": 0}]},
      {"id": "bad", "question": "When?", "answers": [{"text": "2015", "answer_start": 20}]},
  ])
  with pytest.raises(UserError) as error:
    read_squad(path)
  line = next(number for number, text in enumerate(open(path), 1) if '"bad"' in text)
  message = str(error.value)
  assert f"squad.json line {line}: question 'bad' has answer '2015' at answer_start=20" in message
  assert "the text occurs at 22" in message and "fix answer_start" in message


@pytest.mark.parametrize("content,message", [
    ('{"data": [', "line 1 is not valid JSON"),
    ('{"data": [{"paragraphs": [{"qas": []}]}]}', "is not in SQuAD format (missing or malformed 'context')"),
])
def test_malformed_files(tmp_path, content, message):
  path = tmp_path / "bad.json"
  path.write_text(content)
  with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
    read_squad(str(path))
