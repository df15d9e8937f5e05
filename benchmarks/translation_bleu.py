"""A causal LM taught English -> French from fra.txt, against the same model before fine-tuning:
BLEU and chrF on sentences it never saw, answered through the exported SavedModel.

  python benchmarks/translation_bleu.py \
      --init_checkpoint=../shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct-Q4_1.gguf \
      --data_path=../shared/data/fra_eng/fra.txt --train_pairs=800 --learning_rate=2e-4 \
      [--peft=lora] --work_dir=/tmp/translation_bleu

fra.txt's distinct English sources are shuffled (seed 0): the first --test_pairs are the test set
(every French reference kept), the next --train_pairs the training file (one reference each).
Answers come from the command-line tool a user runs (tfsft.generate --init_checkpoint for the base
model, --saved_model for the export); training is trainer.run (what tfsft.train calls) with a
step timer, so the JSON line also gives the steady-state seconds per step (the first steps, which
trace, excluded). The base model's answers are reused when --work_dir already holds them for
the same prompts. docs/benchmarks.md records results.
"""

import collections
import json
import os
import random
import subprocess
import sys
import time

import sacrebleu
from absl import app, flags

from tfsft import trainer
from tfsft.config import DataConfig, ModelConfig, OptimizerConfig, PeftConfig, RuntimeConfig, \
    TrainConfig
from tfsft.data.sentence_pairs import read_pairs
from step_timing import SteadyStepTimer  # benchmarks/, the script's folder, is on sys.path

flags.DEFINE_string("init_checkpoint", None, "The causal LM (as for tfsft.train).")
flags.DEFINE_string("data_path", None, "fra.txt (source<TAB>target lines).")
flags.DEFINE_integer("train_pairs", 800, "Training sentences.")
flags.DEFINE_integer("test_pairs", 100, "Test sentences.")
flags.DEFINE_float("learning_rate", 2e-4, "Peak learning rate.")
flags.DEFINE_string("peft", "none", "--peft of tfsft.train.")
flags.DEFINE_integer("max_new_tokens", 32, "Most tokens per answer.")
flags.DEFINE_string("prompt_template", "Translate to French: {source}", "The user's turn.")
flags.DEFINE_string("work_dir", "/tmp/translation_bleu", "Slices, runs and answers.")
FLAGS = flags.FLAGS


def write_slices(directory: str):
  """(test prompts file, test references): the test and training slices, disjoint by source."""
  sources, targets = read_pairs(FLAGS.data_path)
  references = collections.OrderedDict()
  for source, target in zip(sources, targets):
    references.setdefault(source, []).append(target)
  shuffled = list(references)
  random.Random(0).shuffle(shuffled)
  test = shuffled[:FLAGS.test_pairs]
  train = shuffled[FLAGS.test_pairs:FLAGS.test_pairs + FLAGS.train_pairs]
  with open(os.path.join(directory, "train.tsv"), "w", encoding="utf-8") as handle:
    handle.writelines(f"{source}\t{references[source][0]}\n" for source in train)
  prompts = os.path.join(directory, "test_prompts.jsonl")
  with open(prompts, "w", encoding="utf-8") as handle:
    handle.writelines(json.dumps({"prompt": FLAGS.prompt_template.format(source=source)}) + "\n"
                      for source in test)
  return prompts, [references[source] for source in test]


def tool(module: str, *arguments):
  """Runs `python -m <module>`, exiting with its error output if it fails."""
  process = subprocess.run([sys.executable, "-m", module, *arguments], capture_output=True,
                           text=True, check=False)
  if process.returncode:
    sys.exit(f"{module} failed:\n{process.stderr[-3000:]}")


def scores(answers_file: str, references) -> dict:
  with open(answers_file, encoding="utf-8") as handle:
    answers = [json.loads(line)["completion"] for line in handle]
  # sacrebleu takes reference streams: the i-th reference of every sentence (its first if fewer).
  streams = [[refs[i] if i < len(refs) else refs[0] for refs in references]
             for i in range(max(map(len, references)))]
  return {"bleu": round(sacrebleu.corpus_bleu(answers, streams).score, 1),
          "chrf": round(sacrebleu.corpus_chrf(answers, streams).score, 1),
          "examples": answers[:4]}


def main(argv):
  del argv
  os.makedirs(FLAGS.work_dir, exist_ok=True)
  prompts, references = write_slices(FLAGS.work_dir)
  generate = ["--input_file=" + prompts, f"--max_new_tokens={FLAGS.max_new_tokens}"]
  base_answers = os.path.join(FLAGS.work_dir, "base.jsonl")
  if not _answers_for(base_answers, prompts):
    tool("tfsft.generate", f"--init_checkpoint={FLAGS.init_checkpoint}", *generate,
         f"--output_file={base_answers}")
  run = os.path.join(FLAGS.work_dir, f"run_{FLAGS.peft}_{FLAGS.learning_rate:g}")
  timer = SteadyStepTimer(warmup=3)
  start = time.perf_counter()
  results = trainer.run(TrainConfig(
      task="instruction_tuning",
      data=DataConfig(data_path=os.path.join(FLAGS.work_dir, "train.tsv"),
                      text_from_task="translation", prompt_template=FLAGS.prompt_template),
      model=ModelConfig(model="causal_lm", init_checkpoint=FLAGS.init_checkpoint,
                        max_seq_length=64, max_new_tokens=FLAGS.max_new_tokens),
      optimizer=OptimizerConfig(learning_rate=FLAGS.learning_rate),
      runtime=RuntimeConfig(model_dir=os.path.join(run, "model"), batch_size=8, num_epochs=1,
                            export_dir=os.path.join(run, "export"), eval_generate_examples=0),
      peft=PeftConfig(peft=FLAGS.peft)), extra_callbacks=[timer])
  train_seconds = time.perf_counter() - start
  tuned_answers = os.path.join(run, "tuned.jsonl")
  tool("tfsft.generate", f"--saved_model={results['export_path']}", *generate,
       f"--output_file={tuned_answers}")
  print(json.dumps({
      "peft": FLAGS.peft, "learning_rate": FLAGS.learning_rate, "train_pairs": FLAGS.train_pairs,
      "steps": results["step"],
      "steady_s_per_step": round(timer.seconds_per_step(), 2),
      "train_evaluate_export_wall_s": round(train_seconds, 1),
      "validation_loss": round(results["validation"]["loss"], 4),
      "trainable_parameters": results["trainable_parameters"],
      "total_parameters": results["total_parameters"],
      "checkpoint_mb": round(results["checkpoint_bytes"] / 1e6, 1),
      "base": scores(base_answers, references), "tuned": scores(tuned_answers, references),
  }, ensure_ascii=False))


def _answers_for(path: str, prompts_file: str) -> bool:
  """Whether `path` already answers exactly the prompts of `prompts_file`."""
  if not os.path.isfile(path):
    return False
  with open(path, encoding="utf-8") as answers, open(prompts_file, encoding="utf-8") as prompts:
    return [json.loads(line)["prompt"] for line in answers] == [
        json.loads(line)["prompt"] for line in prompts]


if __name__ == "__main__":
  app.run(main)
