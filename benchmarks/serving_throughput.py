"""tfsft's exported SavedModel against a Hugging Face `pipeline` on the same raw reviews, model and
machine, taking turns in one run: reviews/s through `serving_default` (raw text in), and
where its time goes (the `tokenize` signature alone, `predict_token_ids` alone).

  python benchmarks/serving_throughput.py --data_path=../shared/data/imdb/aclImdb_train.tar.gz \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --max_seq_length=128 --batch_size=32 \
      --reviews=512 --repeats=3 --peer_python=/path/to/venv/bin/python

The systems:
  tfsft                  trainer.run for one step (the weights do not change the cost) with its
                         defaults, its export loaded in a fresh process with tf.saved_model.load,
                         as TF Serving loads it. --mixed_precision=auto: on AVX-512 BF16 / AMX
                         CPUs, TPUs and Ampere GPUs the export computes in bfloat16
  tfsft_float32          the same trained with --mixed_precision=none
  hugging_face_pipeline  Transformers `pipeline("text-classification")` with batch_size and
                         truncation (benchmarks/hugging_face_pipeline.py, in --peer_python)
Each pass classifies every review once in batches of --batch_size, after one untimed batch, in a
fresh process; the systems take --repeats passes in turns (each tfsft export is made once).
cpu_steal_fraction is the CPU time a shared VM's hypervisor took away during the pass.
Prints one JSON line per system, then a summary line; docs/benchmarks.md records results.
"""

import json
import os
import statistics
import sys
import tempfile
import time

from absl import app, flags

from system_runs import print_result, result_of  # benchmarks/ is the script's dir: on sys.path

flags.DEFINE_string("data_path", None, "aclImdb directory or tarball.")
flags.DEFINE_string("init_checkpoint", None, "Hugging Face BERT directory (MiniLM).")
flags.DEFINE_integer("reviews", 512, "Reviews to classify: tfsft's IMDb validation split, seed 42.")
flags.DEFINE_integer("max_seq_length", 128, "Tokens per review (truncation).")
flags.DEFINE_integer("batch_size", 32, "Reviews per request.")
flags.DEFINE_list("systems", ["tfsft", "tfsft_float32", "hugging_face_pipeline"],
                  "Systems to run, in this order.")
flags.DEFINE_integer("repeats", 3, "Timed passes per system, taken in turns; the median counts.")
flags.DEFINE_string("peer_python", sys.executable, "Python with torch + transformers.")
flags.DEFINE_string("one", None, "Internal: 'export' or 'serve' in this process.")
flags.DEFINE_string("work_dir", None, "Internal: the driver's scratch directory.")
flags.DEFINE_string("mixed_precision", "auto", "Internal: the export's --mixed_precision.")
flags.DEFINE_string("export_path", None, "Internal: the SavedModel to serve.")
FLAGS = flags.FLAGS

HERE = os.path.dirname(os.path.abspath(__file__))
PRECISION = {"tfsft": "auto", "tfsft_float32": "none"}


def write_reviews(work_dir: str):
  """reviews.jsonl ({"text", "label"}), also the train/validation files of the one-step runs;
  returns its path and how many reviews it holds."""
  from tfsft.config import DataConfig
  from tfsft.data import imdb
  data = imdb.load(DataConfig(data_path=FLAGS.data_path, max_eval_examples=FLAGS.reviews),
                   seed=42)
  rows = [json.dumps({"text": text.decode("utf-8"), "label": data.label_names[int(label)]})
          for text, label in data.validation.as_numpy_iterator()]
  for name in ("reviews", "train", "validation"):
    with open(os.path.join(work_dir, f"{name}.jsonl"), "w", encoding="utf-8") as handle:
      handle.writelines(row + "\n" for row in rows)
  return os.path.join(work_dir, "reviews.jsonl"), len(rows)


def export(work_dir: str) -> dict:
  """One training step, then the export tfsft.train writes; returns its path."""
  from tfsft import trainer
  from tfsft.config import DataConfig, ModelConfig, RuntimeConfig, TrainConfig
  results = trainer.run(TrainConfig(
      task="text_classification",
      data=DataConfig(data_path=work_dir, max_train_examples=FLAGS.batch_size,
                      max_eval_examples=FLAGS.batch_size),
      model=ModelConfig(model="bert", init_checkpoint=FLAGS.init_checkpoint,
                        max_seq_length=FLAGS.max_seq_length),
      runtime=RuntimeConfig(model_dir=os.path.join(work_dir, f"run_{FLAGS.mixed_precision}"),
                            export_dir=os.path.join(work_dir, f"export_{FLAGS.mixed_precision}"),
                            batch_size=FLAGS.batch_size, train_steps=1,
                            mixed_precision=FLAGS.mixed_precision)))
  return {"export_path": results["export_path"]}


def serve(work_dir: str, export_path: str) -> dict:
  """Loads the SavedModel in this fresh process and times its signatures over every review."""
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  registers the tokenizer's ops, which TF Serving has built in
  with open(os.path.join(work_dir, "reviews.jsonl"), encoding="utf-8") as handle:
    texts = [json.loads(line)["text"] for line in handle]
  start = time.perf_counter()
  loaded = tf.saved_model.load(export_path)
  load_seconds = time.perf_counter() - start
  batches = [tf.constant(texts[i:i + FLAGS.batch_size])
             for i in range(0, len(texts), FLAGS.batch_size)]
  serving, tokenize = loaded.signatures["serving_default"], loaded.signatures["tokenize"]
  predict_token_ids = loaded.signatures["predict_token_ids"]
  features = [tokenize(text=batch) for batch in batches]

  def seconds(call, inputs):
    call(**inputs[0])  # warmup: the first call of a signature builds its kernels
    start = time.perf_counter()
    for each in inputs:
      call(**each)
    return round(time.perf_counter() - start, 2)

  return {"seconds": seconds(serving, [{"text": batch} for batch in batches]),
          "tokenize_seconds": seconds(tokenize, [{"text": batch} for batch in batches]),
          "model_seconds": seconds(predict_token_ids, features),
          "load_seconds": round(load_seconds, 2)}


def export_path(system: str, work_dir: str) -> str:
  """A tfsft system's SavedModel, exported once in its own process (the dtype policy is global)."""
  return result_of([*_ours(work_dir), "--one=export",
                    f"--mixed_precision={PRECISION[system]}"])["export_path"]


def serving_seconds(system: str, work_dir: str, reviews_file: str, exports: dict) -> dict:
  """One timed pass of `system` over the reviews, in a fresh process."""
  if system == "hugging_face_pipeline":
    return result_of([FLAGS.peer_python, os.path.join(HERE, "hugging_face_pipeline.py"),
                      f"--model={FLAGS.init_checkpoint}", f"--reviews={reviews_file}",
                      f"--max_seq_length={FLAGS.max_seq_length}",
                      f"--batch_size={FLAGS.batch_size}"])
  return result_of([*_ours(work_dir), "--one=serve", f"--export_path={exports[system]}"])


def _ours(work_dir: str) -> list:
  passed = [f"--{name}={FLAGS[name].value}" for name in (
      "data_path", "init_checkpoint", "max_seq_length", "batch_size")]
  return [sys.executable, __file__, f"--work_dir={work_dir}", *passed]


def main(argv):
  del argv
  if FLAGS.one == "export":
    print_result(export(FLAGS.work_dir))
    return
  if FLAGS.one == "serve":
    print_result(serve(FLAGS.work_dir, FLAGS.export_path))
    return
  passes = {system: [] for system in FLAGS.systems}
  with tempfile.TemporaryDirectory() as work_dir:
    reviews_file, count = write_reviews(work_dir)
    exports = {system: export_path(system, work_dir) for system in passes if system in PRECISION}
    # Round robin: a neighbour's load on a shared VM then falls on every system alike.
    for _ in range(FLAGS.repeats):
      for system in passes:
        result = serving_seconds(system, work_dir, reviews_file, exports)
        result["reviews_per_second"] = round(count / result["seconds"], 2)
        passes[system].append(result)
        print(json.dumps({"system": system, **result}), flush=True)
  summary = {"reviews": count, "max_seq_length": FLAGS.max_seq_length,
             "batch_size": FLAGS.batch_size, "repeats": FLAGS.repeats}
  median = {system: statistics.median(run["reviews_per_second"] for run in runs)
            for system, runs in passes.items()}
  summary.update({f"{system}_median_reviews_per_second": value for system, value in median.items()})
  peer = median.get("hugging_face_pipeline")
  for system, value in median.items():
    if peer and system != "hugging_face_pipeline":
      summary[f"{system}_vs_hugging_face_pipeline"] = round(value / peer, 2)
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  flags.mark_flags_as_required(["data_path", "init_checkpoint"])
  app.run(main)
