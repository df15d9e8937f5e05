"""tfsft against keras-hub and Hugging Face on the same examples, model, optimizer and machine,
one after the other in one run: train examples/s and real tokens/s, eval examples/s, accuracy.

  python benchmarks/peer_comparison.py --task=sst2 --data_path=../shared/data/glue_sst2 \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --train_examples=2000 \
      --max_seq_length=64 --peer_python=/path/to/venv/bin/python
  python benchmarks/peer_comparison.py --task=imdb \
      --data_path=../shared/data/imdb/aclImdb_train.tar.gz \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --train_examples=500 \
      --eval_examples=500 --max_seq_length=512 --peer_python=/path/to/venv/bin/python

The systems, each in a fresh process:
  keras_hub             BertTextClassifier with its preprocessor (fixed length), `fit` on lists of
                        strings, as keras-hub's guides show
  hugging_face          Transformers `Trainer` + `DataCollatorWithPadding` (dynamic padding)
  hugging_face_grouped  the same with `group_by_length=True`
  tfsft                 trainer.run (what tfsft.train calls) with its defaults, on the same files
                        (--mixed_precision=auto: bfloat16 where the CPU has AVX-512 BF16 / AMX)
  tfsft_float32         the same with --mixed_precision=none
  tfsft_widths_of_8     the same with --pad_to_multiple=8 (the default on GPUs and TPUs; on CPUs
                        the default is exact widths)
The Hugging Face runs need torch and transformers (`pip install -e ".[peers]"`, or any Python that
has them, given as --peer_python). Every system runs one epoch of AdamW at --learning_rate with
--batch_size; training time is the whole training loop, first steps (tracing) and checkpoints
included. Real tokens are counted with the checkpoint's WordPiece tokenizer, truncated as the
models see them, padding excluded, so tokens/s are comparable across systems.
cpu_steal_fraction is the CPU time a shared VM's hypervisor took away during the system's run.
Prints one JSON line per system, then a summary line; docs/benchmarks.md records results.
"""

import json
import os
import sys
import tempfile
import time

from absl import app, flags

from system_runs import print_result, result_of  # benchmarks/ is the script's dir: on sys.path

flags.DEFINE_enum("task", "sst2", ["sst2", "imdb"], "Which data: GLUE SST-2 TSVs or aclImdb.")
flags.DEFINE_string("data_path", None, "glue_sst2 directory, or the aclImdb directory / tarball.")
flags.DEFINE_string("init_checkpoint", None, "Hugging Face BERT directory (MiniLM).")
flags.DEFINE_integer("train_examples", 2000, "Training examples (the first of a seeded shuffle).")
flags.DEFINE_integer("eval_examples", None, "Validation examples (default: all of SST-2 dev; "
                     "IMDb: 500 of tfsft's validation split).")
flags.DEFINE_integer("max_seq_length", 64, "Tokens per example (truncation; keras-hub pads to it).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("learning_rate", 5e-5, "AdamW peak learning rate, every system.")
flags.DEFINE_list("systems", ["keras_hub", "hugging_face", "hugging_face_grouped", "tfsft"],
                  "Systems to run, in this order.")
flags.DEFINE_string("peer_python", sys.executable, "Python with torch + transformers.")
flags.DEFINE_string("one", None, "Internal: run this system on --data_dir in this process.")
flags.DEFINE_string("data_dir", None, "Internal: the JSON Lines files the driver wrote.")
FLAGS = flags.FLAGS

HERE = os.path.dirname(os.path.abspath(__file__))


def write_examples(directory: str):
  """train.jsonl and validation.jsonl ({"text", "label"}) that every system reads."""
  from tfsft.config import DataConfig
  if FLAGS.task == "sst2":
    from tfsft.tasks.glue import glue_task
    data = glue_task("sst2").load_data(
        DataConfig(data_path=FLAGS.data_path, max_eval_examples=FLAGS.eval_examples), seed=42)
  else:
    from tfsft.data import imdb
    data = imdb.load(DataConfig(data_path=FLAGS.data_path,
                                max_eval_examples=FLAGS.eval_examples or 500), seed=42)
  names = data.label_names
  splits = {"train": data.train.shuffle(100_000, seed=42).take(FLAGS.train_examples),
            "validation": data.validation}
  texts = {}
  for split, dataset in splits.items():
    rows = [{"text": text.decode("utf-8"), "label": names[int(label)]}
            for text, label in dataset.as_numpy_iterator()]
    texts[split] = [row["text"] for row in rows]
    with open(os.path.join(directory, f"{split}.jsonl"), "w", encoding="utf-8") as handle:
      handle.writelines(json.dumps(row) + "\n" for row in rows)
  return texts


def real_lengths(texts) -> list:
  """Each text's WordPiece tokens with [CLS] and [SEP], truncated at --max_seq_length, no
  padding: what every system really computes on."""
  import tensorflow as tf
  from tfsft.config import ModelConfig
  from tfsft.models import bert
  encoder = bert.build(ModelConfig(init_checkpoint=FLAGS.init_checkpoint,
                                   max_seq_length=FLAGS.max_seq_length))
  lengths = []
  for batch in tf.data.Dataset.from_tensor_slices(texts).batch(256):
    mask = encoder.preprocess(batch)["padding_mask"]
    lengths += tf.reduce_sum(tf.cast(mask, tf.int32), axis=1).numpy().tolist()
  return lengths


def run_keras_hub(data_dir):
  import keras
  import keras_hub
  import numpy as np
  train, validation = (_read(data_dir, split) for split in ("train", "validation"))
  label_ids = {name: i for i, name in enumerate(sorted({row["label"] for row in train}))}
  preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
      FLAGS.init_checkpoint, sequence_length=FLAGS.max_seq_length)
  classifier = keras_hub.models.BertTextClassifier(
      backbone=keras_hub.models.BertBackbone.from_preset(FLAGS.init_checkpoint),
      preprocessor=preprocessor, num_classes=len(label_ids))
  classifier.compile(optimizer=keras.optimizers.AdamW(FLAGS.learning_rate),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                     metrics=["accuracy"])
  start = time.perf_counter()
  classifier.fit(x=[row["text"] for row in train], y=[label_ids[row["label"]] for row in train],
                 batch_size=FLAGS.batch_size, epochs=1, verbose=0)
  train_seconds = time.perf_counter() - start
  start = time.perf_counter()
  logits = classifier.predict([row["text"] for row in validation], batch_size=FLAGS.batch_size,
                              verbose=0)
  eval_seconds = time.perf_counter() - start
  truth = np.array([label_ids[row["label"]] for row in validation])
  return {"train_seconds": round(train_seconds, 2), "eval_seconds": round(eval_seconds, 2),
          "accuracy": round(float(np.mean(np.argmax(logits, -1) == truth)), 4)}


def run_tfsft(data_dir, mixed_precision="auto", pad_to_multiple=None):
  import keras
  from tfsft import trainer
  from tfsft.config import DataConfig, ModelConfig, OptimizerConfig, RuntimeConfig, TrainConfig

  class FitClock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
      self.start = time.perf_counter()

    def on_train_end(self, logs=None):
      self.seconds = time.perf_counter() - self.start

  clock = FitClock()
  with tempfile.TemporaryDirectory() as scratch:
    results = trainer.run(TrainConfig(
        task="text_classification",
        data=DataConfig(data_path=data_dir, pad_to_multiple=pad_to_multiple),
        model=ModelConfig(model="bert", init_checkpoint=FLAGS.init_checkpoint,
                          max_seq_length=FLAGS.max_seq_length),
        runtime=RuntimeConfig(model_dir=os.path.join(scratch, "run"), batch_size=FLAGS.batch_size,
                              num_epochs=1, export=False, mixed_precision=mixed_precision),
        optimizer=OptimizerConfig(learning_rate=FLAGS.learning_rate)), extra_callbacks=[clock])
  return {"train_seconds": round(clock.seconds, 2),
          "eval_seconds": results["final_evaluation_seconds"],
          "accuracy": round(results["validation"]["accuracy"], 4),
          "steps": results["step"], "padding_fraction": results.get("padding_fraction")}


def _read(data_dir, split):
  with open(os.path.join(data_dir, f"{split}.jsonl"), encoding="utf-8") as handle:
    return [json.loads(line) for line in handle]


def _command(system, data_dir):
  if system.startswith("hugging_face"):
    return [FLAGS.peer_python, os.path.join(HERE, "hugging_face_trainer.py"),
            f"--model={FLAGS.init_checkpoint}", f"--data_dir={data_dir}",
            f"--max_seq_length={FLAGS.max_seq_length}", f"--batch_size={FLAGS.batch_size}",
            f"--learning_rate={FLAGS.learning_rate}",
            *(["--group_by_length"] if system == "hugging_face_grouped" else [])]
  passed = [f"--{name}={FLAGS[name].value}" for name in (
      "task", "data_path", "init_checkpoint", "max_seq_length", "batch_size", "learning_rate")]
  return [sys.executable, __file__, f"--one={system}", f"--data_dir={data_dir}", *passed]


def main(argv):
  del argv
  if FLAGS.one:
    runner = {"keras_hub": run_keras_hub, "tfsft": run_tfsft,
              "tfsft_float32": lambda data_dir: run_tfsft(data_dir, "none"),
              "tfsft_widths_of_8": lambda data_dir: run_tfsft(data_dir, pad_to_multiple=8),
              }[FLAGS.one]
    print_result(runner(FLAGS.data_dir))
    return
  with tempfile.TemporaryDirectory() as data_dir:
    texts = write_examples(data_dir)
    tokens = sum(real_lengths(texts["train"]))
    counts = {split: len(values) for split, values in texts.items()}
    results = {}
    for system in FLAGS.systems:
      result = result_of(_command(system, data_dir))
      result.update(
          train_examples_per_second=round(counts["train"] / result["train_seconds"], 2),
          train_tokens_per_second=round(tokens / result["train_seconds"], 1),
          eval_examples_per_second=round(counts["validation"] / result["eval_seconds"], 2))
      results[system] = result
      print(json.dumps({"system": system, **result}), flush=True)
  base = results.get("keras_hub", {}).get("train_examples_per_second")
  summary = {"task": FLAGS.task, "max_seq_length": FLAGS.max_seq_length, "examples": counts,
             "real_train_tokens": tokens}
  for system, result in results.items():
    summary[f"{system}_vs_keras_hub"] = (round(result["train_examples_per_second"] / base, 2)
                                         if base else None)
  for ours in ("tfsft", "tfsft_float32", "tfsft_widths_of_8"):
    for peer in ("hugging_face", "hugging_face_grouped"):
      if ours in results and peer in results:
        summary[f"{ours}_vs_{peer}"] = round(results[ours]["train_examples_per_second"]
                                             / results[peer]["train_examples_per_second"], 2)
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  flags.mark_flags_as_required(["data_path", "init_checkpoint"])
  app.run(main)
