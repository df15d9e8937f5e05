"""A BERT backbone's forward pass as keras-hub builds it against the same backbone rewritten by
tfsft's `fused_layers.fuse`, taking turns in one process (so machine noise hits both alike).

  python benchmarks/forward_pass.py --init_checkpoint=../shared/models/all-MiniLM-L6-v2 \
      --mixed_precision=none,mixed_bfloat16 --lengths=128,256

Each batch has --batch_size rows of random token ids, padded from half to full length (so the
attention mask matters), run with dynamic shapes in a tf.function as evaluation and serving run
it. Prints one JSON line per (precision, length) with the median seconds per batch and the
largest difference between the two versions' pooled outputs.
"""

import json
import time

import keras_hub
import numpy as np
import tensorflow as tf
from absl import app, flags

from tfsft.models import fused_layers
from tfsft.precision import global_dtype_policy, keras_policy

flags.DEFINE_string("init_checkpoint", None, "A BERT preset directory or keras-hub preset name.")
flags.DEFINE_list("mixed_precision", ["none", "mixed_bfloat16"], "Precisions to time.")
flags.DEFINE_list("lengths", ["128", "256"], "Sequence lengths to time.")
flags.DEFINE_integer("batch_size", 32, "Rows per batch.")
flags.DEFINE_integer("repeats", 8, "Timed batches per version, taken in turns; the median counts.")
FLAGS = flags.FLAGS

FEATURES = ("token_ids", "segment_ids", "padding_mask")


def forward_functions():
  """{version: traced forward pass}, each on its own backbone in the current dtype policy."""
  spec = [{name: tf.TensorSpec([None, None], tf.int32) for name in FEATURES}]
  functions = {}
  for version in ("keras_hub", "fused"):
    backbone = keras_hub.models.BertBackbone.from_preset(FLAGS.init_checkpoint)
    if version == "fused":
      fused_layers.fuse(backbone)
    functions[version] = tf.function(
        lambda features, backbone=backbone: backbone(features, training=False)["pooled_output"],
        input_signature=spec)
  return functions


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
      functions = forward_functions()
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
      print(json.dumps({
          "mixed_precision": precision, "length": length, "batch_size": FLAGS.batch_size,
          "median_seconds": medians,
          "speed_up": round(medians["keras_hub"] / medians["fused"], 2),
          "max_output_difference": float(np.abs(outputs["keras_hub"] - outputs["fused"]).max())}),
          flush=True)


if __name__ == "__main__":
  flags.mark_flags_as_required(["init_checkpoint"])
  app.run(main)
