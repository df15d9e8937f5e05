"""The least time a TensorFlow or a PyTorch program could train the peer comparison's examples in
on this machine: the encoder's matrix multiplications and the optimizer's steps alone, each timed
with that framework's own kernels on the model's own shapes. A target below the floor cannot be
met by any change to the program.

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
less than that. Plus one AdamW step over every parameter per batch (examples / --batch_size
steps): tfsft's FusedAdamW as make_optimizer builds it, torch.optim.AdamW as Hugging Face's
Trainer uses it, on random gradients. Left out, so the floor is lower than any real run: the
embedding and pooler, LayerNorm, GELU, softmax, dropout, gradient clipping, and framework costs
(tracing).

Each framework's matmuls are timed on the layer's shapes with M = --batch_size x the mean real
length rows (a length-grouped batch): forward A B, input gradient G B^T and weight gradient A^T G,
ten at a time on distinct inputs, the fastest of --repeats for each. Prints one JSON line per
framework and a summary.
"""

import json
import os
import tempfile
import time

from absl import app, flags

import peer_comparison  # benchmarks/ is the script's dir; its flags: --task, --data_path, ...
from system_runs import result_of

flags.DEFINE_enum("framework", None, ["torch"],
                  "Internal: time torch's matmuls and AdamW step in this process.")
flags.DEFINE_integer("torch_rows", None, "Internal: M, the rows of a batch's activations, for "
                     "--framework=torch.")
flags.DEFINE_integer("repeats", 20, "Timed calls per matmul; the fastest counts.")
FLAGS = flags.FLAGS

CHAIN = 10  # matmuls per timed call


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
  three together (total flops / total time). Each timing runs CHAIN matmuls on distinct inputs
  (TensorFlow: in one tf.function, as a training step runs them), so per-call costs do not count
  and no two products are the same (Grappler would compute identical ones once)."""
  if framework == "torch":
    import torch
    randn = lambda *dims: torch.randn(*dims)
    forms = {"forward": lambda a, b, g: a @ b, "input_gradient": lambda a, b, g: g @ b.T,
             "weight_gradient": lambda a, b, g: a.T @ g}
    chained = lambda form: lambda inputs, b: [forms[form](a, b, g) for a, g in inputs]
    finish = lambda values: values
  else:
    import tensorflow as tf
    randn = lambda *dims: tf.random.normal(dims)
    forms = {"forward": lambda a, b, g: tf.linalg.matmul(a, b),
             "input_gradient": lambda a, b, g: tf.linalg.matmul(g, b, transpose_b=True),
             "weight_gradient": lambda a, b, g: tf.linalg.matmul(a, g, transpose_a=True)}
    chained = lambda form: tf.function(
        lambda inputs, b: [forms[form](a, b, g) for a, g in inputs])
    finish = lambda values: [value.numpy() for value in values]
  seconds = {form: 0.0 for form in forms}
  flops = 0.0
  for k, n in layer_matmuls(hidden, intermediate):
    inputs = [(randn(rows, k), randn(rows, n)) for _ in range(CHAIN)]
    b = randn(k, n)
    flops += 2.0 * rows * k * n
    for form in forms:
      run = chained(form)
      finish(run(inputs, b))  # traces and warms the kernel for this shape
      best = float("inf")
      for _ in range(repeats):
        start = time.perf_counter()
        finish(run(inputs, b))
        best = min(best, time.perf_counter() - start)
      seconds[form] += best / CHAIN
  rates = {form: round(flops / spent / 1e9, 1) for form, spent in seconds.items()}
  rates["training"] = round(3 * flops / sum(seconds.values()) / 1e9, 1)
  return rates


def optimizer_seconds(framework: str, repeats: int) -> float:
  """Seconds of one AdamW step over all of the checkpoint's parameters (fastest of `repeats`)."""
  if framework == "torch":
    import torch
    import transformers
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        FLAGS.init_checkpoint, num_labels=2)
    parameters = list(model.parameters())
    for parameter in parameters:
      parameter.grad = torch.randn_like(parameter) * 1e-3
    optimizer = torch.optim.AdamW(parameters, lr=FLAGS.learning_rate)
    step = optimizer.step
  else:
    import keras_hub
    import tensorflow as tf
    from tfsft.config import OptimizerConfig
    from tfsft.optimization import make_optimizer
    backbone = keras_hub.models.BertBackbone.from_preset(FLAGS.init_checkpoint)
    variables = backbone.trainable_variables
    optimizer = make_optimizer(OptimizerConfig(), FLAGS.learning_rate, total_steps=10 ** 6)
    optimizer.build(variables)
    gradients = [tf.random.normal(variable.shape) * 1e-3 for variable in variables]
    apply = tf.function(lambda: optimizer.apply(gradients, variables))
    step = lambda: apply() and None
  step()  # builds the state (and traces)
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    step()
    best = min(best, time.perf_counter() - start)
  return best


def framework_costs(framework: str, rows: int, shape: dict) -> dict:
  return {"gflops": matmul_rates(framework, rows, shape["hidden"], shape["intermediate"],
                                 FLAGS.repeats),
          "optimizer_step_seconds": round(optimizer_seconds(framework, FLAGS.repeats), 4)}


def main(argv):
  del argv
  shape = encoder_shape(FLAGS.init_checkpoint)
  if FLAGS.framework == "torch":
    print("RESULT " + json.dumps(framework_costs("torch", FLAGS.torch_rows, shape)), flush=True)
    return
  with tempfile.TemporaryDirectory() as data_dir:
    texts = peer_comparison.write_examples(data_dir)["train"]
  lengths = peer_comparison.real_lengths(texts)
  flops = training_flops(lengths, shape)
  # A batch of --batch_size rows of the mean length (training's M is always rows x width).
  rows = FLAGS.batch_size * round(sum(lengths) / len(lengths))
  steps = len(lengths) // FLAGS.batch_size
  costs = {"tensorflow": framework_costs("tensorflow", rows, shape)}
  if FLAGS.peer_python:
    costs["torch"] = result_of([
        FLAGS.peer_python, __file__, "--framework=torch", f"--repeats={FLAGS.repeats}",
        f"--torch_rows={rows}", f"--init_checkpoint={FLAGS.init_checkpoint}",
        f"--learning_rate={FLAGS.learning_rate}"])
    del costs["torch"]["cpu_steal_fraction"]
  summary = {"task": FLAGS.task, "examples": len(lengths), "steps": steps,
             "real_tokens": sum(lengths), "training_tflop": round(flops / 1e12, 3)}
  for framework, cost in costs.items():
    matmul = flops / (cost["gflops"]["training"] * 1e9)
    floor = matmul + steps * cost["optimizer_step_seconds"]
    print(json.dumps({"framework": framework, "rows": rows, **cost}), flush=True)
    summary[f"{framework}_floor_seconds"] = {
        "matmuls": round(matmul, 1), "optimizer": round(steps * cost["optimizer_step_seconds"], 1),
        "both": round(floor, 1), "examples_per_second": round(len(lengths) / floor, 1)}
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  app.run(main)
