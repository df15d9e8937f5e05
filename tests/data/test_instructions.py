"""Instruction data in three formats, normalised to conversations; errors name file and line."""

import json

import pytest

from conftest import shared_path
from tfsft.data import instructions
from tfsft.errors import UserError

ALPACA = [{"instruction": "Name a colour.", "input": "", "output": "Blue."},
          {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour",
           "system": "You translate."}]
PROMPT_COMPLETION = [{"prompt": "2 + 2 =", "completion": " 4"}]
CONVERSATIONAL = [{"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Paris.", "name": "bot"}]}]


def _write_lines(path, records):
  path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
  return str(path)


def _write_array(path, records):
  path.write_text(json.dumps(records, indent=2), encoding="utf-8")
  return str(path)


def test_alpaca_records_become_a_user_and_an_assistant_turn(tmp_path):
  file = instructions.read_file(_write_lines(tmp_path / "a.jsonl", ALPACA))
  assert file.format == "alpaca"
  assert file.conversations == [
      [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}],
      [{"role": "system", "content": "You translate."},
       # instruction and input stay beside content for the alpaca template's "### Input:" section.
       {"role": "user", "content": "Translate to French.\n\nGood morning",
        "instruction": "Translate to French.", "input": "Good morning"},
       {"role": "assistant", "content": "Bonjour"}]]


def test_prompt_completion_records_keep_their_text_verbatim(tmp_path):
  file = instructions.read_file(_write_lines(tmp_path / "p.jsonl", PROMPT_COMPLETION))
  assert file.format == "prompt/completion"
  assert file.conversations == [[{"role": "user", "content": "2 + 2 ="},
                                 {"role": "assistant", "content": " 4"}]]


def test_conversations_keep_every_turn_and_only_role_and_content(tmp_path):
  file = instructions.read_file(_write_lines(tmp_path / "c.jsonl", CONVERSATIONAL))
  assert file.format == "conversational"
  assert file.conversations == [[{"role": message["role"], "content": message["content"]}
                                 for message in CONVERSATIONAL[0]["messages"]]]


def test_json_arrays_and_json_lines_read_alike_and_name_each_records_first_line(tmp_path):
  array = instructions.read_file(_write_array(tmp_path / "a.json", ALPACA))
  lines = instructions.read_file(_write_lines(tmp_path / "b.json", ALPACA))  # JSON Lines as .json
  assert array.conversations == lines.conversations
  # indent=2 puts the first record's "{" on line 2 and the second's on line 7.
  assert array.locations == [f"{tmp_path / 'a.json'} line 2", f"{tmp_path / 'a.json'} line 7"]
  assert lines.locations == [f"{tmp_path / 'b.json'} line 1", f"{tmp_path / 'b.json'} line 2"]


def test_unicode_line_separators_inside_strings_and_a_byte_order_mark_are_read(tmp_path):
  record = {"prompt": "a\u2028b", "completion": "c\x85d"}
  path = tmp_path / "u.jsonl"
  path.write_bytes(b"\xef\xbb\xbf" + json.dumps(record, ensure_ascii=False).encode() + b"\n")
  assert instructions.read_file(str(path)).conversations[0][0]["content"] == "a\u2028b"


def test_a_directory_gives_splits_in_any_of_the_formats_and_a_source(tmp_path):
  train = _write_lines(tmp_path / "train.jsonl", ALPACA)
  dev = _write_array(tmp_path / "dev.json", CONVERSATIONAL)
  (tmp_path / "notes.txt").write_text("ignored")
  splits = instructions.load(str(tmp_path))
  assert [len(splits.train.conversations), len(splits.validation.conversations)] == [2, 1]
  assert splits.test is None
  assert splits.source == f"local files train={train}, validation={dev}"
  assert instructions.load(train).source == f"local files train={train}"


def test_the_real_alpaca_sample(tmp_path):
  path = shared_path("TFSFT_TEST_DATA", "alpaca", "alpaca_data_sample.json")
  file = instructions.read_file(path)
  with open(path, encoding="utf-8") as handle:
    records = json.load(handle)
  assert file.format == "alpaca" and len(file.conversations) == len(records) == 102
  assert file.conversations[0] == [
      {"role": "user", "content": "Give three tips for staying healthy."},
      {"role": "assistant", "content": records[0]["output"]}]
  with_input = [conversation for conversation, record in zip(file.conversations, records)
                if record["input"]]
  assert with_input and all(c[0]["input"] and c[0]["content"].endswith(c[0]["input"])
                            for c in with_input)


def _error(tmp_path, name, content):
  path = tmp_path / name
  path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
  with pytest.raises(UserError) as error:
    instructions.read_file(str(path))
  return str(error.value).replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize("name,content,message", [
    ("unknown.jsonl", '{"text": "x", "label": 1}\n',
     "unknown.jsonl line 1: unknown record format (fields: label, text): use Alpaca {instruction, "
     "input (optional), output}, prompt/completion {prompt, completion}, or conversational "
     "{messages: [{role, content}, ...]}"),
    ("mixed.jsonl", '{"instruction": "a", "output": "b"}\n{"prompt": "a", "completion": "b"}\n',
     "mixed.jsonl line 2 is in the prompt/completion format but mixed.jsonl line 1 is in the "
     "alpaca format: one file holds one format"),
    ("both.jsonl", '{"instruction": "a", "completion": "b"}\n',
     "both.jsonl line 1: the record mixes the fields of the alpaca and prompt/completion formats"),
    ("no_output.jsonl", '{"instruction": "a", "input": "b"}\n',
     "no_output.jsonl line 1: 'output' is missing: give the record one or remove it"),
    ("empty_output.json", '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "a", '
     '"output": "  "}\n]', "empty_output.json line 3: 'output' is empty"),
    ("no_completion.jsonl", '{"prompt": "a"}\n',
     "no_completion.jsonl line 1: 'completion' is missing"),
    ("number.jsonl", '{"prompt": "a", "completion": 4}\n',
     "number.jsonl line 1: 'completion' is a JSON int: it must be a string"),
    ("listed.jsonl", '{"prompt": [{"role": "user", "content": "a"}], "completion": "b"}\n',
     "'prompt' is a list of messages: write the record as {\"messages\": prompt + completion}"),
    ("role.jsonl", '{"messages": [{"role": "human", "content": "a"}, {"role": "gpt", '
     '"content": "b"}]}\n',
     "role.jsonl line 1: message 1 has role 'human': use system, user or assistant ('user' here?)"),
    ("tool.jsonl", '{"messages": [{"role": "tool", "content": "a"}]}\n',
     "message 1 has role 'tool': use system, user or assistant"),
    ("no_assistant.jsonl", '{"messages": [{"role": "user", "content": "a"}]}\n',
     "no_assistant.jsonl line 1: the conversation has no assistant message, so there is nothing to "
     "learn: add the assistant's answer or remove the record"),
    ("blank.jsonl", '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", '
     '"content": ""}]}\n', "blank.jsonl line 1: message 2 (assistant) content is empty"),
    ("parts.jsonl", '{"messages": [{"role": "user", "content": [{"type": "text"}]}]}\n',
     "message 1 (user) content is not a string"),
    ("no_messages.jsonl", '{"messages": []}\n', "'messages' must be a non-empty list"),
    ("not_object.jsonl", '["a", "b"]\n', "the record is a JSON str, not an object"),
    ("bad.jsonl", '{"prompt": "a", "completion": "b"}\n{"prompt": "a",\n',
     "bad.jsonl line 2 is not JSON (Expecting property name enclosed in double quotes)"),
    ("comma.json", '[{"prompt": "a", "completion": "b"}\n {"prompt": "c", "completion": "d"}]',
     "comma.json line 2 is not valid JSON (expected ',' or ']' after a record)"),
    ("trailing.json", '[\n{"prompt": "a", "completion": "b"},\n]\n',
     "trailing.json line 3 is not valid JSON (Expecting value)"),
    ("object.json", '{\n  "data": [{"prompt": "a", "completion": "b"}]\n}\n',
     "object.json line 1 is not JSON (Expecting property name enclosed in double quotes): the file "
     "holds one JSON object; write a JSON array of records or one per line"),
    ("latin1.jsonl",
     b'{"prompt": "a", "completion": "b"}\n{"prompt": "caf\xe9", "completion": "b"}\n',
     "latin1.jsonl line 2 is not valid UTF-8 (invalid continuation byte at byte 50): re-encode the "
     "file as UTF-8"),
    ("empty.jsonl", "\n\n", "empty.jsonl has no records"),
    ("empty.json", "[]", "empty.json has no records"),
])
def test_errors_name_the_file_line_and_fix(tmp_path, name, content, message):
  assert message in _error(tmp_path, name, content)


@pytest.mark.parametrize("layout,message", [
    ({"train.csv": "text,label\n"}, "has no train.<json|jsonl> file: add one"),
    ({"data.csv": "text,label\n"},
     "data.csv: instruction data is a JSON array (.json) or JSON Lines"),
])
def test_data_path_errors(tmp_path, layout, message):
  for name, content in layout.items():
    (tmp_path / name).write_text(content)
  path = tmp_path / next(iter(layout)) if "data.csv" in layout else tmp_path
  with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
    instructions.load(str(path))
  for read in (instructions.load, instructions.read_file):
    with pytest.raises(UserError, match="missing does not exist"):
      read(str(tmp_path / "missing"))
  with pytest.raises(UserError, match="pass --data_path"):
    instructions.load(None)


def test_pairs_become_conversations_through_a_prompt_template():
  pairs = [("Hello", "Bonjour"), (b"Thank you {very} much", "Merci beaucoup".encode())]
  conversations = instructions.conversations_from_pairs(
      pairs, "Translate to French: {source}\nAnswer in {{French}}.", system="You translate.")
  assert conversations[1] == [
      {"role": "system", "content": "You translate."},
      {"role": "user",
       "content": "Translate to French: Thank you {very} much\nAnswer in {French}."},
      {"role": "assistant", "content": "Merci beaucoup"}]
  # Classification: the label's name is the target.
  label_names = ["negative", "positive"]
  examples = [("a fine film", 1), ("a dull film", 0)]
  sentiment = instructions.conversations_from_pairs(
      ((text, label_names[label]) for text, label in examples), "Sentiment of: {source}")
  assert [c[-1]["content"] for c in sentiment] == ["positive", "negative"]
  assert sentiment[0][0] == {"role": "user", "content": "Sentiment of: a fine film"}


@pytest.mark.parametrize("template,message", [
    ("Translate {text}", "unknown placeholder {text}: the only placeholder is {source}"),
    ("Translate {}", "unknown placeholder {}"),
    ("Translate {source!r}", "unknown placeholder {source!r}"),
    ("Translate {source:>9}", "unknown placeholder {source:>9}"),
    ("Translate this", "has no {source} placeholder"),
    ("Translate {source", "is malformed"),
])
def test_prompt_template_errors(template, message):
  with pytest.raises(UserError) as error:
    instructions.conversations_from_pairs([("a", "b")], template)
  assert message in str(error.value)


def test_pairs_with_an_empty_side_are_refused():
  with pytest.raises(UserError, match="example 2 has an empty target"):
    instructions.conversations_from_pairs([("a", "b"), ("c", " ")], "{source}")
