"""Export the latest checkpoint of a --model_dir as a new SavedModel version for TF Serving.

  python -m tfsft.export --model_dir=runs/imdb [--export_dir=saved_models/imdb]
  python -m tfsft.export --model_dir=runs/fra --beam_size=1   # translation, greedy decoding
"""

import dataclasses

from absl import app, flags, logging

from tfsft.errors import exit_on_user_error

flags.DEFINE_string("model_dir", None, "The --model_dir of a tfsft.train run.")
flags.DEFINE_string("export_dir", None, "TF Serving model base path. Default: saved_models/<task>.")
flags.DEFINE_integer("beam_size", None, "lstm_seq2seq: beams in the exported decoder (1: greedy). "
                     "Default: the training run's.")
flags.DEFINE_integer("max_decode_length", None,
                     "lstm_seq2seq: most tokens per translation. Default: the training run's.")
FLAGS = flags.FLAGS


@exit_on_user_error
def main(argv):
  del argv
  from tfsft.model_dir import load_trained_model
  from tfsft.serving.export import export_for_serving, export_record, export_root
  decoding = {name: value for name, value in (("beam_size", FLAGS.beam_size),
                                              ("max_decode_length", FLAGS.max_decode_length))
              if value is not None}
  trained = load_trained_model(FLAGS.model_dir, decoding)
  logging.info("Exporting %s.", trained.checkpoint)
  # The base path is this command's --export_dir (default saved_models/<task>), not the run's.
  config = dataclasses.replace(trained.config, runtime=dataclasses.replace(
      trained.config.runtime, export_dir=FLAGS.export_dir))
  print(export_for_serving(trained.model, trained.encoder, trained.task, trained.label_names,
                           export_root(config), trained.warmup_inputs,
                           export_record(FLAGS.model_dir, trained.checkpoint, config.model)))


if __name__ == "__main__":
  flags.mark_flag_as_required("model_dir")
  app.run(main)
