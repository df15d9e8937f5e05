"""Run a SavedModel's serving_default on a file of texts; one JSON line per text.

  python -m tfsft.predict --saved_model=saved_models/imdb/1 --input_file=reviews.txt
  python -m tfsft.predict --saved_model=saved_models/imdb/1 --input_file=reviews.jsonl \
      --output_file=predictions.jsonl

Input: one text per line, or JSON Lines (*.jsonl) with the text under --text_key.
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


def read_texts(path: str, text_key: str = "text"):
  if not os.path.isfile(path):
    raise UserError(f"--input_file={path} does not exist")
  texts = []
  with open(path, encoding="utf-8") as handle:
    for number, line in enumerate(handle, 1):
      if not line.strip():
        continue
      if path.endswith(".jsonl"):
        try:
          texts.append(json.loads(line)[text_key])
        except (json.JSONDecodeError, KeyError, TypeError):
          raise UserError(f"{path}:{number} is not a JSON object with a '{text_key}' field") from None
      else:
        texts.append(line.rstrip("\n"))
  if not texts:
    raise UserError(f"--input_file={path} has no texts")
  return texts


def predict(saved_model_dir: str, texts, batch_size: int = 64):
  """Yields one dict per text: the serving_default outputs, with `scores` keyed by class name."""
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  registers the tokenizer ops the graph uses
  if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
    raise UserError(f"--saved_model={saved_model_dir} has no saved_model.pb: pass a version "
                    "directory such as saved_models/imdb/1")
  serve = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
  for start in range(0, len(texts), batch_size):
    batch = texts[start:start + batch_size]
    outputs = {key: value.numpy() for key, value in serve(text=tf.constant(batch)).items()}
    for i, text in enumerate(batch):
      row = {"text": text}
      for key, value in outputs.items():
        row[key] = to_jsonable(value[i])
      if "classes" in row and "scores" in row:
        row["scores"] = dict(zip(row.pop("classes"), row["scores"]))
      yield row


@exit_on_user_error
def main(argv):
  del argv
  rows = predict(FLAGS.saved_model, read_texts(FLAGS.input_file, FLAGS.text_key), FLAGS.batch_size)
  if FLAGS.output_file:
    with open(FLAGS.output_file, "w", encoding="utf-8") as output:
      output.writelines(json.dumps(row) + "\n" for row in rows)
  else:
    for row in rows:
      print(json.dumps(row))


if __name__ == "__main__":
  flags.mark_flags_as_required(["saved_model", "input_file"])
  app.run(main)
