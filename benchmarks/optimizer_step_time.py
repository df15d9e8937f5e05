"""Seconds per training step and for the first (tracing) step: Keras 3's AdamW against tfsft's
FusedAdamW, on the same model in one process.

  python benchmarks/optimizer_step_time.py --init_checkpoint=../shared/models/all-MiniLM-L6-v2

The model is keras-hub's BertTextClassifier on the checkpoint's backbone (MiniLM: 22.7M
parameters, half of them the word embedding). Both optimizers get the same settings tfsft uses
(weight decay 0.01 off LayerNorm and biases, global-norm clipping at 1.0) and train on one fixed
batch of --batch_size x --max_seq_length random token ids, no XLA. They take turns (--rounds
rounds of --steps steps each), so a change of machine load reaches both; the best round counts.
Prints one JSON line; docs/benchmarks.md records results.
"""

import json
import time

import keras
import keras_hub
import numpy as np
from absl import app, flags

from tfsft.fused_adamw import FusedAdamW
from tfsft.optimization import NO_WEIGHT_DECAY

flags.DEFINE_string("init_checkpoint", None, "BERT checkpoint (keras-hub preset or HF directory).")
flags.DEFINE_integer("batch_size", 32, "Rows per step.")
flags.DEFINE_integer("max_seq_length", 16, "Tokens per row.")
flags.DEFINE_integer("steps", 3, "Steps per optimizer per round.")
flags.DEFINE_integer("rounds", 6, "Rounds of turns.")
FLAGS = flags.FLAGS

_OPTIMIZERS = {"keras_adamw": keras.optimizers.AdamW, "fused_adamw": FusedAdamW}


def build(optimizer_class) -> keras.Model:
  backbone = keras_hub.models.BertBackbone.from_preset(FLAGS.init_checkpoint)
  model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=2, preprocessor=None)
  optimizer = optimizer_class(5e-5, weight_decay=0.01, global_clipnorm=1.0)
  optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
  model.compile(optimizer=optimizer, jit_compile=False,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  token_ids = rng.integers(1000, 30000, size=(FLAGS.batch_size, FLAGS.max_seq_length))
  inputs = {"token_ids": token_ids.astype(np.int32), "padding_mask": np.ones_like(token_ids, bool),
            "segment_ids": np.zeros_like(token_ids, np.int32)}
  labels = rng.integers(0, 2, size=(FLAGS.batch_size,)).astype(np.int32)
  models, first_step = {}, {}
  for name, optimizer_class in _OPTIMIZERS.items():
    models[name] = build(optimizer_class)
    start = time.perf_counter()
    models[name].train_on_batch(inputs, labels)  # traces the step (and builds the optimizer)
    first_step[name] = time.perf_counter() - start
  seconds = {name: [] for name in models}
  for _ in range(FLAGS.rounds):
    for name, model in models.items():
      start = time.perf_counter()
      for _ in range(FLAGS.steps):
        model.train_on_batch(inputs, labels)
      seconds[name].append((time.perf_counter() - start) / FLAGS.steps)
  print(json.dumps({"batch": [FLAGS.batch_size, FLAGS.max_seq_length], "optimizers": {
      name: {"first_step_seconds": round(first_step[name], 2),
             "best_seconds_per_step": round(min(times), 3),
             "median_seconds_per_step": round(float(np.median(times)), 3)}
      for name, times in seconds.items()}}))


if __name__ == "__main__":
  flags.mark_flag_as_required("init_checkpoint")
  app.run(main)
