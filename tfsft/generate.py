"""Generate text with a causal LM: a fine-tuned run, its SavedModel, or a base checkpoint.

  python -m tfsft.generate --model_dir=runs/smollm2_fra --prompt="Translate to French: I am cold."
  python -m tfsft.generate --saved_model=saved_models/instruction_tuning/1 --input_file=prompts.txt
  python -m tfsft.generate --init_checkpoint=SmolLM2-135M-Instruct-Q4_1.gguf \
      --input_file=chats.jsonl --output_file=answers.jsonl --temperature=0.7 --top_p=0.9
  python -m tfsft.generate --init_checkpoint=SmolLM2-135M-Instruct-Q4_1.gguf \
      --adapters=runs/smollm2_fra/peft_adapter --prompt="Translate to French: I am cold."

Prompts are users' messages (the chat template is applied; --noapply_chat_template continues raw
text instead); JSON Lines input may hold {"prompt": ...} or {"messages": [...]} rows. One JSON line
is written per row, with its `completion`.
"""

import json

from absl import app, flags

from tfsft.config import ModelConfig
from tfsft.errors import exit_on_user_error
from tfsft.output_locations import check_output_file

_D = ModelConfig()
flags.DEFINE_string("model_dir", None, "The --model_dir of a causal_lm tfsft.train run.")
flags.DEFINE_string("saved_model", None, "A causal-LM SavedModel version directory.")
flags.DEFINE_string("init_checkpoint", None, "A base checkpoint, as --init_checkpoint of "
                    "tfsft.train takes it (.gguf, Hugging Face or keras-hub directory, preset).")
flags.DEFINE_string("adapters", None, "With --init_checkpoint: a LoRA adapter in Hugging Face "
                    "PEFT's format (adapter_config.json + adapter_model.safetensors), applied to "
                    "the base (tfsft.export --format=peft writes one).")
flags.DEFINE_multi_string("prompt", None, "A user's message (repeatable).")
flags.DEFINE_string("input_file", None, "Prompts, one per line, or JSON Lines of {prompt} or "
                    "{messages} rows.")
flags.DEFINE_string("output_file", None, "Write JSON Lines here instead of stdout.")
flags.DEFINE_string("chat_template", None, "With --init_checkpoint: alpaca, chatml, a template "
                    "name of the checkpoint or a Jinja file. Default: the checkpoint's own.")
flags.DEFINE_boolean("apply_chat_template", True,
                     "With --init_checkpoint: format prompts with the chat template (else: "
                     "continue them as plain text).")
flags.DEFINE_integer("max_prompt_tokens", None, "With --init_checkpoint: prompts keep their last "
                     "this many tokens. Default: 512, or the model's positions if fewer.")
flags.DEFINE_integer("max_new_tokens", _D.max_new_tokens, "Most tokens generated per answer.")
flags.DEFINE_float("temperature", _D.temperature, "Sampling temperature; 0 is greedy.")
flags.DEFINE_integer("top_k", _D.top_k, "Sampling: keep the k likeliest tokens; 0 keeps all.")
flags.DEFINE_float("top_p", _D.top_p, "Sampling: nucleus probability mass; 1 keeps all.")
flags.DEFINE_integer("seed", 0, "Sampling seed: the same seed gives the same answers.")
flags.DEFINE_integer("num_return_sequences", 1, "Answers per prompt (sampling).")
flags.DEFINE_multi_string("stop_string", None, "With --model_dir or --init_checkpoint: cut each "
                          "answer before the first of these texts (repeatable), besides the "
                          "model's own end-of-turn token.")
flags.DEFINE_integer("batch_size", 8, "Prompts per call.")
FLAGS = flags.FLAGS


@exit_on_user_error
def main(argv):
  del argv
  from tfsft.errors import UserError
  from tfsft.generation import completions
  if bool(FLAGS.prompt) == bool(FLAGS.input_file):
    raise UserError("pass --prompt (repeatable) or --input_file, one of them")
  if FLAGS.output_file:
    check_output_file(FLAGS.output_file)  # before loading the model
  rows = ([{"prompt": prompt} for prompt in FLAGS.prompt] if FLAGS.prompt
          else completions.read_rows(FLAGS.input_file))
  request = completions.Request(
      max_new_tokens=FLAGS.max_new_tokens, temperature=FLAGS.temperature, top_k=FLAGS.top_k,
      top_p=FLAGS.top_p, seed=FLAGS.seed, num_return_sequences=FLAGS.num_return_sequences)
  completer = completions.Completer(
      model_dir=FLAGS.model_dir, saved_model=FLAGS.saved_model,
      init_checkpoint=FLAGS.init_checkpoint, adapters=FLAGS.adapters,
      chat_template=FLAGS.chat_template,
      max_prompt_tokens=FLAGS.max_prompt_tokens, apply_chat_template=FLAGS.apply_chat_template,
      stop_strings=FLAGS.stop_string or ())
  lines = (json.dumps(row, ensure_ascii=False) + "\n"
           for row in completer.complete(rows, request, FLAGS.batch_size))
  if FLAGS.output_file:
    with open(FLAGS.output_file, "w", encoding="utf-8") as output:
      output.writelines(lines)
  else:
    for line in lines:
      print(line, end="")


if __name__ == "__main__":
  app.run(main)
