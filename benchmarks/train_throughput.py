"""Training throughput of tfsft.train (BERT) next to the obvious hand-written keras-hub baseline.

  python benchmarks/train_throughput.py \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 \
      --data_path=../shared/data/imdb/aclImdb_train.tar.gz --max_seq_length=256 \
      --mixed_precision=none,mixed_bfloat16

Both are timed in the same process on the same reviews, batch size and sequence length, over the
same number of steady-state steps (the first steps, which trace and compile, are excluded):
  baseline  keras_hub.models.BertTextClassifier with its preprocessor, `fit` on Python lists (float32)
  tfsft     trainer.run: tf.data (tokenize in chunks -> group by length -> cut each batch to its
            longest row -> prefetch), once per --mixed_precision policy
Prints one JSON line; docs/benchmarks.md records results.
"""

import json
import tempfile
import time

import keras
import keras_hub
from absl import app, flags

from tfsft import trainer
from tfsft.config import DataConfig, ModelConfig, RuntimeConfig, TrainConfig
from tfsft.data import imdb

flags.DEFINE_string("init_checkpoint", None, "BERT checkpoint (as for tfsft.train).")
flags.DEFINE_string("data_path", None, "aclImdb directory or tarball.")
flags.DEFINE_integer("max_seq_length", 256, "Tokens per example.")
flags.DEFINE_integer("batch_size", 16, "Global batch size.")
flags.DEFINE_integer("warmup_steps", 3, "Untimed steps (tracing, first-batch costs).")
flags.DEFINE_integer("timed_steps", 20, "Timed steps.")
flags.DEFINE_list("mixed_precision", ["none"], "tfsft runs, one per --mixed_precision value.")
FLAGS = flags.FLAGS


class StepTimer(keras.callbacks.Callback):
  """Wall time of the steps after the first `warmup` ones."""

  def __init__(self, warmup):
    super().__init__()
    self.warmup, self.steps, self.start, self.end = warmup, 0, None, None

  def on_train_batch_end(self, batch, logs=None):
    self.steps += 1
    if self.steps == self.warmup:
      self.start = time.perf_counter()
    self.end = time.perf_counter()

  def rate(self, batch_size, sequence_length):
    timed = self.steps - self.warmup
    seconds = self.end - self.start
    examples = timed * batch_size / seconds
    return {"timed_steps": timed, "seconds": round(seconds, 2),
            "examples_per_s": round(examples, 2), "tokens_per_s": round(examples * sequence_length, 1)}


def time_tfsft(total_steps, mixed_precision):
  config = TrainConfig(
      task="imdb",
      data=DataConfig(data_path=FLAGS.data_path, max_train_examples=total_steps * FLAGS.batch_size,
                      max_eval_examples=FLAGS.batch_size),
      model=ModelConfig(model="bert", init_checkpoint=FLAGS.init_checkpoint,
                        max_seq_length=FLAGS.max_seq_length),
      runtime=RuntimeConfig(model_dir=tempfile.mkdtemp(), batch_size=FLAGS.batch_size,
                            train_steps=total_steps, checkpoint_every_steps=total_steps,
                            eval_every_steps=total_steps, export=False,
                            mixed_precision=mixed_precision))
  timer = StepTimer(FLAGS.warmup_steps)
  trainer.run(config, extra_callbacks=[timer])
  return timer.rate(FLAGS.batch_size, FLAGS.max_seq_length)


def time_baseline(total_steps):
  data = imdb.load(DataConfig(data_path=FLAGS.data_path,
                              max_train_examples=total_steps * FLAGS.batch_size), seed=42)
  texts, labels = [], []
  for text, label in data.train.as_numpy_iterator():
    texts.append(text.decode())
    labels.append(int(label))
  preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
      FLAGS.init_checkpoint, sequence_length=FLAGS.max_seq_length)
  classifier = keras_hub.models.BertTextClassifier(
      backbone=keras_hub.models.BertBackbone.from_preset(FLAGS.init_checkpoint),
      preprocessor=preprocessor, num_classes=2)
  classifier.compile(optimizer=keras.optimizers.AdamW(5e-5, weight_decay=0.01),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                     metrics=["accuracy"])
  timer = StepTimer(FLAGS.warmup_steps)
  classifier.fit(x=texts, y=labels, batch_size=FLAGS.batch_size, epochs=1, callbacks=[timer],
                 verbose=0)
  return timer.rate(FLAGS.batch_size, FLAGS.max_seq_length)


def main(argv):
  del argv
  total_steps = FLAGS.warmup_steps + FLAGS.timed_steps
  baseline = time_baseline(total_steps)
  results = {"max_seq_length": FLAGS.max_seq_length, "batch_size": FLAGS.batch_size,
             "keras_hub_baseline": baseline}
  for policy in FLAGS.mixed_precision:
    rate = time_tfsft(total_steps, policy)
    rate["speedup_vs_baseline"] = round(rate["examples_per_s"] / baseline["examples_per_s"], 3)
    results[f"tfsft_{policy}"] = rate
  print(json.dumps(results))


if __name__ == "__main__":
  flags.mark_flags_as_required(["init_checkpoint", "data_path"])
  app.run(main)
