"""A BERT backbone's forward pass as keras-hub builds it against the same backbone rewritten by
tfsft's `fused_layers.fuse`, taking turns in one process (so machine noise hits both alike);
with --training, whole training steps instead.

  python benchmarks/forward_pass.py --init_checkpoint=../shared/models/all-MiniLM-L6-v2 \
      --mixed_precision=none,mixed_bfloat16 --lengths=128,256
  python benchmarks/forward_pass.py --init_checkpoint=../shared/models/all-MiniLM-L6-v2 \
      --training --mixed_precision=mixed_bfloat16 --lengths=16,32,64 --repeats=10

Each batch has --batch_size rows of random token ids, padded from half to full length (so the
attention mask matters), run with dynamic shapes in a tf.function as evaluation and serving run
it. A training step (--training) is what trainer.run runs for text classification: dropout on, a
two-class head, cross-entropy on random labels, gradients, and tfsft's FusedAdamW update. Prints
one JSON line per (precision, length) with the median seconds per batch and, for forward passes,
the largest difference between the two versions' pooled outputs.
"""

import json
import time

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from absl import app, flags

from tfsft.config import OptimizerConfig
from tfsft.models import fused_layers
from tfsft.optimization import make_optimizer
from tfsft.precision import global_dtype_policy, keras_policy

flags.DEFINE_string("init_checkpoint", None, "A BERT preset directory or keras-hub preset name.")
flags.DEFINE_list("mixed_precision", ["none", "mixed_bfloat16"], "Precisions to time.")
flags.DEFINE_list("lengths", ["128", "256"], "Sequence lengths to time.")
flags.DEFINE_integer("batch_size", 32, "Rows per batch.")
flags.DEFINE_bool("training", False, "Time training steps instead of forward passes.")
flags.DEFINE_integer("repeats", 8, "Timed batches per version, taken in turns; the median counts.")
FLAGS = flags.FLAGS

FEATURES = ("token_ids", "segment_ids", "padding_mask")


def traced_functions():
  """{version: traced forward pass or training step}, each on its own backbone in the current
  dtype policy."""
  spec = [{name: tf.TensorSpec([None, None], tf.int32) for name in FEATURES}]
  functions = {}
  for version in ("keras_hub", "fused"):
    backbone = keras_hub.models.BertBackbone.from_preset(FLAGS.init_checkpoint)
    if version == "fused":
      fused_layers.fuse(backbone)
    function = training_step(backbone) if FLAGS.training else (
        lambda features, backbone=backbone: backbone(features, training=False)["pooled_output"])
    functions[version] = tf.function(function, input_signature=spec)
  return functions


def training_step(backbone):
  head = keras.layers.Dense(2)
  head.build([None, backbone.hidden_dim])
  variables = backbone.trainable_variables + head.trainable_variables
  # tfsft's optimizer as trainer.run makes it (FusedAdamW, decay exclusions, clipping); a long
  # schedule keeps the learning rate above zero for every timed step.
  optimizer = make_optimizer(OptimizerConfig(), 5e-5, total_steps=10_000)
  optimizer.build(variables)
  loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  def step(features):
    labels = features["token_ids"][:, 0] % 2
    with tf.GradientTape() as tape:
      logits = head(backbone(features, training=True)["pooled_output"])
      loss = loss_function(labels, tf.cast(logits, tf.float32))
    optimizer.apply(tape.gradient(loss, variables), variables)
    return logits

  return step


def padded_batch(length: int) -> dict:
  token_ids = tf.random.stateless_uniform([FLAGS.batch_size, length], (1, 2), 1000, 20000, tf.int32)
  lengths = tf.random.stateless_uniform([FLAGS.batch_size], (3, 4), length // 2, length + 1,
                                        tf.int32)
  return {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids),
          "padding_mask": tf.sequence_mask(lengths, length, tf.int32)}


def main(argv):
  del argv
  for precision in FLAGS.mixed_precision:
    with global_dtype_policy(keras_policy(precision)):
      functions = traced_functions()
    for length in map(int, FLAGS.lengths):
      batch = padded_batch(length)
      outputs = {version: np.asarray(function(batch), np.float32)  # traces once, untimed
                 for version, function in functions.items()}
      seconds = {version: [] for version in functions}
      for _ in range(FLAGS.repeats):
        for version, function in functions.items():
          start = time.perf_counter()
          np.asarray(function(batch))
          seconds[version].append(time.perf_counter() - start)
      medians = {version: round(float(np.median(times)), 3) for version, times in seconds.items()}
      result = {"mixed_precision": precision, "length": length, "batch_size": FLAGS.batch_size,
                "training": FLAGS.training, "median_seconds": medians,
                "speed_up": round(medians["keras_hub"] / medians["fused"], 2)}
      if not FLAGS.training:  # training steps draw their own dropout masks
        result["max_output_difference"] = float(
            np.abs(outputs["keras_hub"] - outputs["fused"]).max())
      print(json.dumps(result), flush=True)


if __name__ == "__main__":
  flags.mark_flags_as_required(["init_checkpoint"])
  app.run(main)
