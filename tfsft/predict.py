"""Run a SavedModel's serving_default on a file of inputs; one JSON line per input.

  python -m tfsft.predict --saved_model=saved_models/imdb/1 --input_file=reviews.txt
  python -m tfsft.predict --saved_model=saved_models/imdb/1 --input_file=reviews.jsonl \
      --output_file=predictions.jsonl

Input: one text per line, or JSON Lines (*.jsonl) with one field per signature input (`text`, or
the field named by --text_key; pair models also need `text_pair`; squad takes `question` and
`context`).
"""

import json
import os

from absl import app, flags

from tfsft.errors import UserError, exit_on_user_error
from tfsft.serving.servability import to_jsonable

flags.DEFINE_string("saved_model", None, "A SavedModel version directory, e.g. saved_models/imdb/1.")
flags.DEFINE_string("input_file", None, "Texts: one per line, or JSON Lines (*.jsonl).")
flags.DEFINE_string("text_key", "text", "The text field of JSON Lines input.")
flags.DEFINE_string("output_file", None, "Write JSON Lines here instead of stdout.")
flags.DEFINE_integer("batch_size", 64, "Texts per call.")
FLAGS = flags.FLAGS


def read_inputs(path: str, text_key: str = "text"):
  """Rows of named inputs: {"text": line} per line of a text file, or the JSON Lines objects
  (with --text_key renamed to `text`). Each row keeps its line number for error messages."""
  if not os.path.isfile(path):
    raise UserError(f"--input_file={path} does not exist")
  rows = []
  with open(path, encoding="utf-8") as handle:
    for number, line in enumerate(handle, 1):
      if not line.strip():
        continue
      if path.endswith(".jsonl"):
        try:
          row = json.loads(line)
          if text_key in row:  # other inputs (text_pair, question, context) keep their names
            row["text"] = row.pop(text_key)
        except (json.JSONDecodeError, TypeError, AttributeError):
          raise UserError(f"{path}:{number} is not a JSON object") from None
        if not isinstance(row, dict):
          raise UserError(f"{path}:{number} is not a JSON object")
      else:
        row = {"text": line.rstrip("\n")}
      rows.append((number, row))
  if not rows:
    raise UserError(f"--input_file={path} has no texts")
  return path, rows


def predict(saved_model_dir: str, inputs, batch_size: int = 64):
  """Yields one dict per input row: its inputs and the serving_default outputs, with `scores`
  keyed by class name."""
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  registers the tokenizer ops the graph uses
  if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
    raise UserError(f"--saved_model={saved_model_dir} has no saved_model.pb: pass a version "
                    "directory such as saved_models/imdb/1")
  serve = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
  names = sorted(serve.structured_input_signature[1])
  path, rows = inputs
  for number, row in rows:
    missing = [name for name in names if not isinstance(row.get(name), str)]
    if missing:
      raise UserError(f"{path}:{number} has no '{missing[0]}' text; this model takes "
                      f"{', '.join(names)}: use JSON Lines with those fields")
  for start in range(0, len(rows), batch_size):
    batch = [row for _, row in rows[start:start + batch_size]]
    outputs = serve(**{name: tf.constant([row[name] for row in batch]) for name in names})
    outputs = {key: value.numpy() for key, value in outputs.items()}
    for i, row in enumerate(batch):
      result = {name: row[name] for name in names}
      for key, value in outputs.items():
        result[key] = to_jsonable(value[i])
      yield _readable(result)


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


@exit_on_user_error
def main(argv):
  del argv
  rows = predict(FLAGS.saved_model, read_inputs(FLAGS.input_file, FLAGS.text_key), FLAGS.batch_size)
  if FLAGS.output_file:
    with open(FLAGS.output_file, "w", encoding="utf-8") as output:
      output.writelines(json.dumps(row) + "\n" for row in rows)
  else:
    for row in rows:
      print(json.dumps(row))


if __name__ == "__main__":
  flags.mark_flags_as_required(["saved_model", "input_file"])
  app.run(main)
