"""Export the latest checkpoint of a --model_dir as a new SavedModel version for TF Serving.

  python -m tfsft.export --model_dir=runs/imdb [--export_dir=saved_models/imdb]
  python -m tfsft.export --model_dir=runs/fra --beam_size=1   # translation, greedy decoding
  python -m tfsft.export --model_dir=runs/chat --max_new_tokens=256   # a causal LM's decoding
  python -m tfsft.export --model_dir=runs/chat --format=hf --export_dir=exports/chat_hf
      # a causal LM as a Hugging Face directory (transformers, vLLM, llama.cpp's converter, ...)
  python -m tfsft.export --model_dir=runs/chat_lora --format=peft
      # a --peft=lora run's adapters alone, for PeftModel.from_pretrained or tfsft.generate --adapters
"""

import dataclasses
import os

from absl import app, flags, logging

from tfsft.errors import exit_on_user_error

flags.DEFINE_string("model_dir", None, "The --model_dir of a tfsft.train run.")
flags.DEFINE_string("export_dir", None, "TF Serving model base path. Default: saved_models/<task>.")
flags.DEFINE_integer("beam_size", None, "lstm_seq2seq: beams in the exported decoder (1: greedy). "
                     "Default: the training run's.")
flags.DEFINE_integer("max_decode_length", None,
                     "lstm_seq2seq: most tokens per translation. Default: the training run's.")
flags.DEFINE_integer("max_new_tokens", None, "causal_lm: most tokens per answer in serving_default "
                     "(the generate signature takes its own). Default: the training run's.")
flags.DEFINE_float("temperature", None, "causal_lm: serving_default's sampling temperature (0: "
                   "greedy). Default: the training run's.")
flags.DEFINE_integer("top_k", None, "causal_lm: serving_default's top-k. Default: the run's.")
flags.DEFINE_float("top_p", None, "causal_lm: serving_default's top-p. Default: the run's.")
flags.DEFINE_enum("format", "saved_model", ("saved_model", "hf", "peft"),
                  "saved_model: a versioned SavedModel for TF Serving (a LoRA run merged); hf: a "
                  "causal LM as a Hugging Face directory (--export_dir, default "
                  "<model_dir>/hugging_face); peft: a --peft=lora run's adapters alone in Hugging "
                  "Face PEFT's format (--export_dir, default <model_dir>/peft_adapter).")
FLAGS = flags.FLAGS
_DECODING_FLAGS = ("beam_size", "max_decode_length", "max_new_tokens", "temperature", "top_k",
                   "top_p")


@exit_on_user_error
def main(argv):
  del argv
  from tfsft.model_dir import load_trained_model
  from tfsft.serving.export import export_for_serving, export_record, export_root
  decoding = {name: FLAGS[name].value for name in _DECODING_FLAGS if FLAGS[name].value is not None}
  trained = load_trained_model(FLAGS.model_dir, decoding, merge_peft=FLAGS.format != "peft")
  logging.info("Exporting %s.", trained.checkpoint)
  if FLAGS.format == "peft":
    print(_peft_adapter(trained, FLAGS.export_dir or os.path.join(FLAGS.model_dir, "peft_adapter")))
    return
  if FLAGS.format == "hf":
    print(_hugging_face(trained, FLAGS.export_dir or os.path.join(FLAGS.model_dir, "hugging_face")))
    return
  # The base path is this command's --export_dir (default saved_models/<task>), not the run's.
  config = dataclasses.replace(trained.config, runtime=dataclasses.replace(
      trained.config.runtime, export_dir=FLAGS.export_dir))
  print(export_for_serving(trained.model, trained.encoder, trained.task, trained.label_names,
                           export_root(config), trained.warmup_inputs,
                           export_record(FLAGS.model_dir, trained.checkpoint, config.model)))


def _hugging_face(trained, directory: str) -> str:
  from tfsft.errors import UserError
  from tfsft.models import causal_lm
  from tfsft.output_locations import check_writable_directory
  if trained.config.model.model != "causal_lm":
    raise UserError(f"--format=hf writes causal LMs; {FLAGS.model_dir} holds a "
                    f"--model={trained.config.model.model} run: export it as a SavedModel")
  check_writable_directory(directory, "--export_dir")
  return causal_lm.write_hugging_face(trained.encoder, directory)


def _peft_adapter(trained, directory: str) -> str:
  from tfsft.errors import UserError
  from tfsft.models import MODELS
  from tfsft.output_locations import check_writable_directory
  from tfsft.peft import hugging_face
  if trained.peft is None:
    raise UserError(f"--format=peft writes LoRA adapters; {FLAGS.model_dir} is a full fine-tuning "
                    "run (no --peft): export it as a SavedModel or --format=hf")
  check_writable_directory(directory, "--export_dir")
  backbone = MODELS.get(trained.config.model.model).transformer(trained.encoder)
  return hugging_face.write_adapters(directory, trained.model, backbone, trained.peft,
                                     trained.config.peft, trained.encoder.description)


if __name__ == "__main__":
  flags.mark_flag_as_required("model_dir")
  app.run(main)
