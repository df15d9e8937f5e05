"""Run a SavedModel's serving_default on a file of inputs; one JSON line per input.

  python -m tfsft.predict --saved_model=saved_models/imdb/1 --input_file=reviews.txt
  python -m tfsft.predict --saved_model=saved_models/imdb/1 --input_file=reviews.jsonl \
      --output_file=predictions.jsonl

Input: one text per line, or JSON Lines (*.jsonl) with one field per signature input (`text`, or
the field named by --text_key; pair models also need `text_pair`; squad takes `question` and
`context`). Output line N answers input line N: a blank line gets a row with empty inputs and no
predictions (the model is not run on it), so outputs stay aligned with inputs.
"""

import json

from absl import app, flags

from tfsft.errors import exit_on_user_error
from tfsft.output_locations import check_output_file
from tfsft.serving.batch_predictions import predict, read_inputs

flags.DEFINE_string("saved_model", None, "A SavedModel version directory, e.g. saved_models/imdb/1.")
flags.DEFINE_string("input_file", None, "Texts: one per line, or JSON Lines (*.jsonl). One output "
                    "row per line; a blank line gets its empty inputs and no predictions.")
flags.DEFINE_string("text_key", "text", "The text field of JSON Lines input.")
flags.DEFINE_string("output_file", None, "Write JSON Lines here instead of stdout. Its folder must "
                    "exist (it is not created, so a mistyped path fails instead of making folders).")
flags.DEFINE_integer("batch_size", 64, "Texts per call (at least 1).")
FLAGS = flags.FLAGS


@exit_on_user_error
def main(argv):
  del argv
  if FLAGS.output_file:
    check_output_file(FLAGS.output_file)  # before loading the model, which can take minutes
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
