"""The least time any system could train the peer comparison's examples in on this machine: the
encoder's matrix multiplications alone, at the best rate TensorFlow's or PyTorch's matmul reaches
here on the model's own shapes. A target below this floor cannot be met by any software change.

  python benchmarks/matmul_floor.py --task=sst2 --data_path=../shared/data/glue_sst2 \
      --init_checkpoint=../shared/models/all-MiniLM-L6-v2 --train_examples=2000 \
      --max_seq_length=64 --peer_python=<venv with torch>/bin/python

What is counted, for the same examples peer_comparison.py trains on (its flags and examples):
  * per real token and layer, the attention projections (4 h x h) and the feed-forward pair
    (h x f, f x h): 2 flops per multiply-add forward, and three times that in training (the
    forward, the gradient of the input, the gradient of the weights);
  * per example of T real tokens and layer, attention's scores and weighted sum: 4 T^2 h forward,
    three times that in training.
Real tokens only (WordPiece with [CLS]/[SEP], truncated at --max_seq_length): no system computes
less than that. Left out, so the floor is lower than any real run: the embedding and pooler,
LayerNorm, GELU, softmax, dropout, the optimizer's pass over all parameters, and framework costs.

Each framework's matmuls are timed on the layer's shapes with M = --batch_size x the mean real
length rows (a length-grouped batch): forward A B, input gradient G B^T and weight gradient A^T G,
the fastest of --repeats for each. Prints one JSON line per framework and a summary.
"""

import json
import os
import tempfile
import time

from absl import app, flags

import peer_comparison  # benchmarks/ is the script's dir; its flags: --task, --data_path, ...
from system_runs import result_of

flags.DEFINE_enum("framework", None, ["torch"], "Internal: time torch's matmuls in this process.")
flags.DEFINE_list("torch_shape", None, "Internal: M (rows of a batch's activations), hidden and "
                  "intermediate sizes, for --framework=torch.")
flags.DEFINE_integer("repeats", 20, "Timed calls per matmul; the fastest counts.")
FLAGS = flags.FLAGS


def encoder_shape(checkpoint: str) -> dict:
  with open(os.path.join(checkpoint, "config.json"), encoding="utf-8") as handle:
    config = json.load(handle)
  return {"layers": config["num_hidden_layers"], "hidden": config["hidden_size"],
          "intermediate": config["intermediate_size"]}


def layer_matmuls(hidden: int, intermediate: int):
  """(K, N) of one encoder layer's weight matmuls: query, key, value, output, feed-forward in
  and out."""
  return [(hidden, hidden)] * 4 + [(hidden, intermediate), (intermediate, hidden)]


def training_flops(lengths, shape: dict) -> float:
  """Matmul flops of one training pass (forward and both gradients) over examples of `lengths`
  real tokens."""
  per_token = sum(2 * k * n for k, n in layer_matmuls(shape["hidden"], shape["intermediate"]))
  forward = shape["layers"] * sum(per_token * t + 4 * t * t * shape["hidden"] for t in lengths)
  return 3.0 * forward


def matmul_rates(framework: str, rows: int, hidden: int, intermediate: int, repeats: int) -> dict:
  """GFLOP/s of the layer's matmuls at M = rows: forward, input and weight gradients, and all
  three together (total flops / total time)."""
  if framework == "torch":
    import torch
    randn = lambda *dims: torch.randn(*dims)
    forms = {"forward": lambda a, b, g: a @ b, "input_gradient": lambda a, b, g: g @ b.T,
             "weight_gradient": lambda a, b, g: a.T @ g}
    finish = lambda value: value
  else:
    import tensorflow as tf
    randn = lambda *dims: tf.random.normal(dims)
    matmul = tf.function(tf.linalg.matmul)
    forms = {"forward": lambda a, b, g: matmul(a, b),
             "input_gradient": lambda a, b, g: matmul(g, b, transpose_b=True),
             "weight_gradient": lambda a, b, g: matmul(a, g, transpose_a=True)}
    finish = lambda value: value.numpy()
  seconds = {form: 0.0 for form in forms}
  flops = 0.0
  for k, n in layer_matmuls(hidden, intermediate):
    a, b, g = randn(rows, k), randn(k, n), randn(rows, n)
    flops += 2.0 * rows * k * n
    for form, run in forms.items():
      finish(run(a, b, g))  # traces and warms the kernel for this shape
      best = float("inf")
      for _ in range(repeats):
        start = time.perf_counter()
        finish(run(a, b, g))
        best = min(best, time.perf_counter() - start)
      seconds[form] += best
  rates = {form: round(flops / spent / 1e9, 1) for form, spent in seconds.items()}
  rates["training"] = round(3 * flops / sum(seconds.values()) / 1e9, 1)
  return rates


def real_lengths(texts) -> list:
  """Each text's WordPiece tokens with [CLS]/[SEP], truncated as the models see them."""
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


def main(argv):
  del argv
  if FLAGS.framework == "torch":
    rows, hidden, intermediate = (int(value) for value in FLAGS.torch_shape)
    print("RESULT " + json.dumps(matmul_rates("torch", rows, hidden, intermediate, FLAGS.repeats)),
          flush=True)
    return
  shape = encoder_shape(FLAGS.init_checkpoint)
  with tempfile.TemporaryDirectory() as data_dir:
    texts = peer_comparison.write_examples(data_dir)["train"]
  lengths = real_lengths(texts)
  flops = training_flops(lengths, shape)
  rows = round(FLAGS.batch_size * sum(lengths) / len(lengths))
  rates = {"tensorflow": matmul_rates("tensorflow", rows, shape["hidden"], shape["intermediate"],
                                      FLAGS.repeats)}
  if FLAGS.peer_python:
    rates["torch"] = result_of([
        FLAGS.peer_python, __file__, "--framework=torch", f"--repeats={FLAGS.repeats}",
        f"--torch_shape={rows},{shape['hidden']},{shape['intermediate']}"])
    del rates["torch"]["cpu_steal_fraction"]
  for framework, rate in rates.items():
    print(json.dumps({"framework": framework, "rows": rows, "gflops": rate}), flush=True)
  best = max(rate["training"] for rate in rates.values())
  print(json.dumps({
      "task": FLAGS.task, "examples": len(lengths), "real_tokens": sum(lengths),
      "training_tflop": round(flops / 1e12, 3), "best_training_gflops": best,
      "floor_seconds": round(flops / best / 1e9, 1),
      "floor_examples_per_second": round(len(lengths) * best * 1e9 / flops, 1)}), flush=True)


if __name__ == "__main__":
  app.run(main)
