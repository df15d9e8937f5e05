"""Instruction-tuning data from users' files, every record normalised to one conversation.

`--data_path` is a file or a directory with `train.<json|jsonl>` and optional `validation.*` (or
`dev.*`) and `test.*`. A file is a JSON array of records or JSON Lines (one record per line),
.json and .jsonl alike, or TFRecord of tf.Example (.tfrecord; `messages` as a JSON string); a
TFX Examples artifact (`Split-train/`, `Split-eval/`: what the pipelines' ExampleGen writes) reads
as its splits. The records' fields say the format (TRL's and Axolotl's names; `system`
is optional):

  Alpaca              {"instruction": ..., "input": ... (optional), "output": ..., "system": ...}
  prompt/completion   {"prompt": ..., "completion": ..., "system": ...}
  conversational      {"messages": [{"role": "system|user|assistant", "content": ...}, ...]}

and every record becomes a conversation: a list of {"role", "content"} messages, the form chat
templates render (chat_template.py). Alpaca and prompt/completion records become an optional
system turn, a user turn and an assistant turn. One file holds one format; splits may differ.
Problems are UserErrors naming the file and the line where the record starts.

Splitting a validation set off a lone training file is the task's decision, not this reader's.
"""

import dataclasses
import json
import os
import re
import string
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from absl import logging

from tfsft.data import split_files, tables, text_files, tfx_examples
from tfsft.errors import UserError

Message = Dict[str, str]
Conversation = List[Message]

ROLES = ("system", "user", "assistant")
# Alpaca's fields kept on the user message beside its content (its own template writes them).
_ALPACA_USER_FIELDS = ("instruction", "input")
# Roles of other conversation formats (ShareGPT, Gemma), named in the fix when a file uses them.
_ROLE_SYNONYMS = {"human": "user", "gpt": "assistant", "model": "assistant", "bot": "assistant"}

# Each format's fields; a record belongs to the format whose fields it uses.
FORMAT_FIELDS = {
    "alpaca": ("instruction", "input", "output"),
    "prompt/completion": ("prompt", "completion"),
    "conversational": ("messages",),
}
_ACCEPTED = ("Alpaca {instruction, input (optional), output}, prompt/completion {prompt, "
             "completion}, or conversational {messages: [{role, content}, ...]}")

_TFRECORD_EXTENSIONS = (".tfrecord", ".tfrec")
EXTENSIONS = (".json", ".jsonl", *_TFRECORD_EXTENSIONS)

_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


@dataclasses.dataclass(frozen=True)
class InstructionFile:
  path: str
  format: str  # a key of FORMAT_FIELDS
  conversations: List[Conversation]
  locations: List[str]  # "<path> line N" per conversation, for errors found later (e.g. templates)


@dataclasses.dataclass(frozen=True)
class InstructionSplits:
  train: InstructionFile
  validation: Optional[InstructionFile]
  test: Optional[InstructionFile]
  source: str  # said in the log so a run never hides which data it read


def load(data_path: Optional[str]) -> InstructionSplits:
  """The splits under `--data_path`: a single file is the train split."""
  files = find_files(data_path)
  read = {name: read_file(path) for name, path in files.items()}
  for name, file in read.items():
    logging.info("Read %d %s records (%s) from %s.", len(file.conversations), file.format, name,
                 file.path)
  return InstructionSplits(
      train=read["train"], validation=read.get("validation"), test=read.get("test"),
      source=f"local files {', '.join(f'{name}={path}' for name, path in files.items())}")


def find_files(data_path: Optional[str]) -> Dict[str, str]:
  """Split name -> file: the file itself as train, a directory's <split>.<json|jsonl> files, or an
  Examples artifact's Split-* folders."""
  if tfx_examples.is_examples_dir(data_path):
    return tfx_examples.tfsft_splits(data_path)
  return split_files.find_split_files(data_path, EXTENSIONS, _check_extension)


def _check_extension(path):
  if os.path.splitext(path)[1].lower() not in EXTENSIONS:
    raise UserError(f"{path}: instruction data is a JSON array (.json) or JSON Lines (.jsonl) of "
                    "records, or TFRecord of tf.Example (.tfrecord): convert the file or rename it")


def read_file(path: str) -> InstructionFile:
  """One file's records as conversations; the first record's format is the file's."""
  first = None  # (format, where) of the first record
  conversations, locations = [], []
  is_tfrecord = (tfx_examples.is_split_dir(path)
                 or os.path.splitext(path)[1].lower() in _TFRECORD_EXTENSIONS)
  records = (tables.example_rows(path) if is_tfrecord
             else _records(path, text_files.read_utf8(path)))
  for where, record in records:
    record_format = _format_of(record, where)
    if first is None:
      first = (record_format, where)
    elif record_format != first[0]:
      raise UserError(f"{where} is in the {record_format} format but {first[1]} is in the "
                      f"{first[0]} format: one file holds one format; convert the records to one")
    conversations.append(_CONVERTERS[record_format](record, where))
    locations.append(where)
  if first is None:
    raise UserError(f"{path} has no records: expected a JSON array or JSON Lines of {_ACCEPTED}")
  return InstructionFile(path, first[0], conversations, locations)


def _records(path, text) -> Iterator[Tuple[str, Any]]:
  """(where, record) pairs: JSON arrays and JSON Lines are told apart by their first character."""
  start = _JSON_WHITESPACE.match(text).end()
  if text[start:start + 1] == "[":
    return _array_records(path, text, start + 1)
  return _line_records(path, text)


def _array_records(path, text, position):
  """Records of a JSON array, each with the line it starts on (json.loads keeps no positions)."""
  decoder = json.JSONDecoder()
  lines = _LineCounter(text)
  position = _JSON_WHITESPACE.match(text, position).end()
  if text[position:position + 1] == "]":
    return
  while True:
    try:
      record, end = decoder.raw_decode(text, position)
    except json.JSONDecodeError as error:
      raise UserError(f"{path} line {error.lineno} is not valid JSON ({error.msg}): fix the "
                      "record") from None
    yield f"{path} line {lines.line_of(position)}", record
    position = _JSON_WHITESPACE.match(text, end).end()
    separator = text[position:position + 1]
    if separator == "]":
      break
    if separator != ",":
      raise UserError(f"{path} line {lines.line_of(position)} is not valid JSON (expected ',' or "
                      "']' after a record): fix the array")
    position = _JSON_WHITESPACE.match(text, position + 1).end()
  if text[position + 1:].strip():
    raise UserError(f"{path} line {lines.line_of(position + 1)}: text after the closing ']' of "
                    "the array: remove it")


class _LineCounter:
  """Line numbers of increasing positions in a text, counted once (files hold 100k records)."""

  def __init__(self, text):
    self._text, self._position, self._line = text, 0, 1

  def line_of(self, position):
    self._line += self._text.count("\n", self._position, position)
    self._position = position
    return self._line


def _line_records(path, text):
  # split("\n"), not splitlines(): JSON strings may hold U+2028 and other Unicode line breaks.
  for number, line in enumerate(text.split("\n"), start=1):
    if not line.strip():
      continue
    try:
      yield f"{path} line {number}", json.loads(line)
    except json.JSONDecodeError as error:
      raise UserError(f"{path} line {number} is not JSON ({error.msg}): "
                      f"{_json_lines_fix(text, number)}") from None


def _json_lines_fix(text, number):
  """A pretty-printed single object fails on its first line; say that rather than 'line 1'."""
  if number == 1:
    try:
      if isinstance(json.loads(text), dict):
        return "the file holds one JSON object; write a JSON array of records or one per line"
    except json.JSONDecodeError:
      pass
  return "write one JSON record per line, or the whole file as a JSON array"


def _format_of(record, where) -> str:
  if not isinstance(record, dict):
    raise UserError(f"{where}: the record is a JSON {type(record).__name__}, not an object: each "
                    f"record is an object: {_ACCEPTED}")
  formats = [name for name, fields in FORMAT_FIELDS.items()
             if any(field in record for field in fields)]
  if not formats:
    fields = ", ".join(sorted(record)) or "none"
    raise UserError(f"{where}: unknown record format (fields: {fields}): use {_ACCEPTED}")
  if len(formats) > 1:
    raise UserError(f"{where}: the record mixes the fields of the {' and '.join(formats)} formats "
                    f"({', '.join(sorted(record))}): keep one format's fields")
  return formats[0]


def _alpaca(record, where) -> Conversation:
  instruction = _required_text(record, "instruction", where)
  extra_input = _optional_text(record, "input", where)
  output = _required_text(record, "output", where)
  content = f"{instruction}\n\n{extra_input}" if extra_input else instruction
  user = {"role": "user", "content": content}
  if extra_input:
    # Kept beside `content` so the built-in alpaca template can write Stanford Alpaca's own
    # "### Input:" section; other templates read only role and content.
    user.update(instruction=instruction, input=extra_input)
  return _with_system(record, where, [user, {"role": "assistant", "content": output}])


def _prompt_completion(record, where) -> Conversation:
  for field in ("prompt", "completion"):
    if isinstance(record.get(field), list):
      raise UserError(f"{where}: '{field}' is a list of messages: write the record as "
                      '{"messages": prompt + completion} (conversational)')
  prompt = _required_text(record, "prompt", where)
  completion = _required_text(record, "completion", where)
  return _with_system(record, where, [{"role": "user", "content": prompt},
                                      {"role": "assistant", "content": completion}])


def _with_system(record, where, turns) -> Conversation:
  system = _optional_text(record, "system", where)
  return ([{"role": "system", "content": system}] if system else []) + turns


def _conversational(record, where) -> Conversation:
  messages = record["messages"]
  if isinstance(messages, str):  # a tf.Example feature holds the list as JSON
    try:
      messages = json.loads(messages)
    except json.JSONDecodeError as error:
      raise UserError(f"{where}: 'messages' is not a JSON list ({error.msg}): write it as "
                      "json.dumps([{\"role\": ..., \"content\": ...}, ...])") from None
  if not isinstance(messages, list) or not messages:
    raise UserError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
  conversation = [_message(message, number, where)
                  for number, message in enumerate(messages, start=1)]
  if not any(message["role"] == "assistant" for message in conversation):
    raise UserError(f"{where}: the conversation has no assistant message, so there is nothing to "
                    "learn: add the assistant's answer or remove the record")
  return conversation


def _message(message, number, where) -> Message:
  if not isinstance(message, dict):
    raise UserError(f"{where}: message {number} is not a {{role, content}} object")
  role = message.get("role")
  if role not in ROLES:
    hint = f" ('{_ROLE_SYNONYMS[role]}' here?)" if role in _ROLE_SYNONYMS else ""
    raise UserError(f"{where}: message {number} has role {role!r}: use system, user or "
                    f"assistant{hint}")
  content = message.get("content")
  if not isinstance(content, str) or not content.strip():
    problem = "is empty" if isinstance(content, str) or content is None else "is not a string"
    raise UserError(f"{where}: message {number} ({role}) content {problem}: give it text or "
                    "remove the message")
  # Alpaca's instruction and input travel beside the content (see _alpaca), also through files
  # the pipelines' ExampleGen wrote.
  extra = {field: message[field] for field in _ALPACA_USER_FIELDS
           if isinstance(message.get(field), str)}
  return {"role": role, "content": content, **extra}


_CONVERTERS = {"alpaca": _alpaca, "prompt/completion": _prompt_completion,
               "conversational": _conversational}


def _required_text(record, field, where) -> str:
  value = _optional_text(record, field, where)
  if not value:
    state = "is empty" if field in record and record[field] is not None else "is missing"
    raise UserError(f"{where}: '{field}' {state}: give the record one or remove it")
  return value


def _optional_text(record, field, where) -> str:
  """The field's text; "" when absent, null or blank (Alpaca writes "no input" as "")."""
  value = record.get(field)
  if value is None:
    return ""
  if not isinstance(value, str):
    raise UserError(f"{where}: '{field}' is a JSON {type(value).__name__}: it must be a string")
  return value if value.strip() else ""


def conversations_from_pairs(pairs: Iterable[Tuple[Union[str, bytes], Union[str, bytes]]],
                             template: str, system: Optional[str] = None) -> List[Conversation]:
  """Conversations from (source text, target text) pairs, the prompt written by `template`.

  `template` is a str.format pattern whose one placeholder is `{source}` (literal braces are `{{`
  and `}}`): "Translate to French: {source}" turns ("Hello", "Bonjour") into a user turn
  "Translate to French: Hello" and an assistant turn "Bonjour". Classification examples pass the
  label's name as the target: `((text, label_names[label]) for text, label in examples)`. Texts
  may be bytes, as tf.data's `as_numpy_iterator()` gives them.
  """
  _check_pair_template(template)
  prefix = [{"role": "system", "content": system}] if system else []
  conversations = []
  for number, (source, target) in enumerate(pairs, start=1):
    source, target = _decoded(source), _decoded(target)
    if not source.strip() or not target.strip():
      side = "source" if not source.strip() else "target"
      raise UserError(f"example {number} has an empty {side}: give both sides text")
    conversations.append(prefix + [{"role": "user", "content": template.format(source=source)},
                                   {"role": "assistant", "content": target}])
  return conversations


def _check_pair_template(template):
  try:
    fields = [(name, conversion, spec) for _, name, spec, conversion
              in string.Formatter().parse(template) if name is not None]
  except ValueError as error:
    raise UserError(f"prompt template {template!r} is malformed ({error}): write placeholders as "
                    "{source} and literal braces as {{ and }}") from None
  for name, conversion, spec in fields:
    if name != "source" or conversion or spec:
      written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
      raise UserError(f"prompt template {template!r} has an unknown placeholder {written}}}: the "
                      "only placeholder is {source} (literal braces are written {{ and }})")
  if not fields:
    raise UserError(f"prompt template {template!r} has no {{source}} placeholder: add it where the "
                    "source text goes")


def _decoded(text) -> str:
  return text.decode("utf-8") if isinstance(text, bytes) else str(text)
