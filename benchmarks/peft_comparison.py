"""Full fine-tuning against --peft=lora (and adapters) on the same task, data, steps and machine:
quality, steady-state steps/s, peak memory, trainable parameters and checkpoint size.

  python benchmarks/peft_comparison.py --task=glue/sst2 \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --data_path=../shared/data/glue_sst2 \
      --max_train_examples=3000 --max_seq_length=64 --batch_size=32 --num_epochs=2 \
      --methods=none,lora

Each method runs in a fresh process (peak resident memory is per process), one after the other,
with tfsft.train's defaults for that method (learning rate: the family's full or PEFT default).
Prints one JSON line per method; docs/benchmarks.md records results.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from tfsft import trainer
from tfsft.config import (DataConfig, ModelConfig, OptimizerConfig, PeftConfig, RuntimeConfig,
                          TrainConfig)
from step_timing import SteadyStepTimer  # benchmarks/, the script's folder, is on sys.path

flags.DEFINE_string("task", "glue/sst2", "tfsft task.")
flags.DEFINE_string("model", "bert", "tfsft model family.")
flags.DEFINE_string("init_checkpoint", None, "Base checkpoint (as for tfsft.train).")
flags.DEFINE_string("data_path", None, "Task data (as for tfsft.train).")
flags.DEFINE_integer("max_train_examples", None, "Training examples.")
flags.DEFINE_integer("max_eval_examples", None, "Validation examples.")
flags.DEFINE_integer("max_seq_length", 64, "Tokens per example.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_float("num_epochs", 2, "Passes over the training data.")
flags.DEFINE_integer("lora_rank", 8, "--peft=lora rank.")
flags.DEFINE_float("lora_alpha", 16.0, "--peft=lora alpha (the update is scaled by alpha / rank).")
flags.DEFINE_string("lora_targets", None, "--peft=lora projections (default: the family's).")
flags.DEFINE_float("learning_rate", None, "Every method's peak learning rate (default: tfsft's "
                   "default for the family and method).")
flags.DEFINE_list("methods", ["none", "lora"], "--peft values to compare.")
flags.DEFINE_boolean("group_by_length", None, "As tfsft.train's --group_by_length (default: the "
                     "task's).")
flags.DEFINE_integer("warmup_steps", 5, "Untimed first steps (tracing).")
flags.DEFINE_string("one", None, "Internal: run this one method in this process.")
FLAGS = flags.FLAGS


def run_one(method: str) -> dict:
  with tempfile.TemporaryDirectory() as scratch:
    config = TrainConfig(
        task=FLAGS.task,
        data=DataConfig(data_path=FLAGS.data_path, max_train_examples=FLAGS.max_train_examples,
                        max_eval_examples=FLAGS.max_eval_examples,
                        group_by_length=FLAGS.group_by_length),
        model=ModelConfig(model=FLAGS.model, init_checkpoint=FLAGS.init_checkpoint,
                          max_seq_length=FLAGS.max_seq_length),
        runtime=RuntimeConfig(model_dir=os.path.join(scratch, "run"), batch_size=FLAGS.batch_size,
                              num_epochs=FLAGS.num_epochs, export=False),
        optimizer=OptimizerConfig(learning_rate=FLAGS.learning_rate),
        peft=PeftConfig(peft=method, lora_rank=FLAGS.lora_rank, lora_alpha=FLAGS.lora_alpha,
                        lora_targets=FLAGS.lora_targets))
    timer = SteadyStepTimer(FLAGS.warmup_steps)
    start = time.perf_counter()
    results = trainer.run(config, extra_callbacks=[timer])
  return {
      "peft": method, "learning_rate": FLAGS.learning_rate, "lora_targets": FLAGS.lora_targets,
      "lora_rank": FLAGS.lora_rank, "lora_alpha": FLAGS.lora_alpha,
      "steps": results["step"],
      "steady_steps_per_s": round(1 / timer.seconds_per_step(), 3),
      "wall_s": round(time.perf_counter() - start, 1),
      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
      "trainable_parameters": results["trainable_parameters"],
      "total_parameters": results["total_parameters"],
      "checkpoint_mb": round(results["checkpoint_bytes"] / 1e6, 2),
      "validation": {name: round(value, 4) for name, value in results["validation"].items()
                     if isinstance(value, float)},
  }


def main(argv):
  if FLAGS.one:
    print("RESULT " + json.dumps(run_one(FLAGS.one)), flush=True)
    return
  del argv
  passed = [f"--{name}={FLAGS[name].value}" for name in (
      "task", "model", "init_checkpoint", "data_path", "max_train_examples", "max_eval_examples",
      "max_seq_length", "batch_size", "num_epochs", "lora_rank", "lora_alpha", "lora_targets",
      "learning_rate", "warmup_steps", "group_by_length")
            if FLAGS[name].value is not None]
  for method in FLAGS.methods:
    process = subprocess.run([sys.executable, __file__, f"--one={method}", *passed],
                             capture_output=True, text=True, check=False)
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode or not lines:
      sys.exit(f"--peft={method} failed:\n{process.stderr[-3000:]}")
    print(lines[-1][len("RESULT "):], flush=True)


if __name__ == "__main__":
  app.run(main)
