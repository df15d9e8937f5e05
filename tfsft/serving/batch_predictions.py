"""SavedModel predictions for rows of named inputs, in input order: the library behind
`tfsft.predict` and the pipelines' Evaluator.

Rows are sorted by length within windows before batching, so each call pads its texts to similar
lengths (the SavedModel cuts a batch to its longest text); outputs keep the input order.
"""

import json
import os

from tfsft.errors import UserError
from tfsft.serving.loading import load_signatures
from tfsft.serving.servability import to_jsonable


def read_inputs(path: str, text_key: str = "text"):
  """Rows of named inputs: {"text": line} per line of a text file, or the JSON Lines objects
  (with --text_key renamed to `text`); None for a blank line. Each row keeps its line number for
  error messages."""
  if not os.path.isfile(path):
    problem = "is a folder" if os.path.isdir(path) else "does not exist"
    raise UserError(f"--input_file={path} {problem}: pass a text or JSON Lines file")
  rows = []
  with open(path, "rb") as handle:  # decoded per line, so an error can name the line
    for number, raw in enumerate(handle, 1):
      try:
        line = raw.decode("utf-8").rstrip("\r\n")
      except UnicodeDecodeError as error:
        raise UserError(f"{path}:{number} is not valid UTF-8 ({error.reason}): re-encode the file "
                        "as UTF-8") from None
      if not line.strip():
        row = None
      elif path.endswith(".jsonl"):
        try:
          row = json.loads(line)
          if text_key in row:  # other inputs (text_pair, question, context) keep their names
            row["text"] = row.pop(text_key)
        except (json.JSONDecodeError, TypeError, AttributeError):
          raise UserError(f"{path}:{number} is not a JSON object") from None
        if not isinstance(row, dict):
          raise UserError(f"{path}:{number} is not a JSON object")
      else:
        row = {"text": line}
      rows.append((number, row))
  if all(row is None for _, row in rows):
    raise UserError(f"--input_file={path} has no texts")
  return path, rows


def predict(saved_model_dir: str, inputs, batch_size: int = 64):
  """Checks the inputs against the SavedModel's serving_default, then returns an iterator of one
  dict per input row: its inputs and the outputs, with `scores` keyed by class name. A blank row
  gets empty inputs and no outputs."""
  if batch_size < 1:
    raise UserError(f"--batch_size={batch_size} must be at least 1")
  serve = _serving_default(saved_model_dir)
  names = sorted(serve.structured_input_signature[1])
  path, rows = inputs
  for number, row in rows:
    missing = [name for name in names if row is not None and not isinstance(row.get(name), str)]
    if missing:
      raise UserError(f"{path}:{number} has no '{missing[0]}' text; this model takes "
                      f"{', '.join(names)}: use JSON Lines with those fields")
  return _predictions(serve, names, [row for _, row in rows], batch_size)


def _serving_default(saved_model_dir: str):
  return load_signatures(saved_model_dir, ["serving_default"],
                         "a SavedModel exported by tfsft.export")["serving_default"]


# Rows read ahead and sorted by length before batching.
_SORT_WINDOW_BATCHES = 50


def _predictions(serve, names, rows, batch_size):
  # A blank row is not sent to the model: a score for no text would read like a real prediction,
  # and some signatures (question answering) need text to work on.
  window = batch_size * _SORT_WINDOW_BATCHES
  for start in range(0, len(rows), window):
    chunk = rows[start:start + window]
    filled = [i for i, row in enumerate(chunk) if row is not None]
    by_length = sorted(filled, key=lambda i: -sum(len(chunk[i][name]) for name in names))
    answers = {}
    for first in range(0, len(by_length), batch_size):
      batch = by_length[first:first + batch_size]
      answers.update(zip(batch, _predict_batch(serve, names, [chunk[i] for i in batch])))
    for i, row in enumerate(chunk):
      yield dict.fromkeys(names, "") if row is None else answers[i]


def _predict_batch(serve, names, batch):
  import tensorflow as tf
  if not batch:
    return []
  outputs = serve(**{name: tf.constant([row[name] for row in batch]) for name in names})
  outputs = {key: value.numpy() for key, value in outputs.items()}
  results = []
  for i, row in enumerate(batch):
    result = {name: row[name] for name in names}
    for key, value in outputs.items():
      result[key] = to_jsonable(value[i])
    results.append(_readable(result))
  return results


def _readable(result: dict) -> dict:
  """Padded signature outputs as JSON a person reads: class scores by name, entities as objects,
  no padding."""
  if "classes" in result and "scores" in result:
    result["scores"] = dict(zip(result.pop("classes"), result["scores"]))
  if "entity_count" in result:
    count = result.pop("entity_count")
    fields = ("text", "type", "start", "end", "score")
    columns = [result.pop(f"entity_{field}")[:count] for field in fields]
    result["entities"] = [dict(zip(fields, values)) for values in zip(*columns)]
    words = result["words"]
    result["words"] = [word for word in words if word]
    result["tags"] = result["tags"][:len(result["words"])]
  return result
