"""Will TF Serving serve this SavedModel? Checked the way the server loads it.

In a fresh process that imports only tensorflow and tensorflow_text (the ops TF Serving's standard
build links), load the SavedModel with the TF1 session loader (what `saved_model_cli run` and TF
Serving use), run every signature by tensor name, and audit the graph's ops: every op must be core
TensorFlow or tensorflow-text, none may call back into Python or need XLA.

  python -m tfsft.serving.servability --saved_model=saved_models/imdb/1 --text="A fine film."

prints a JSON report (outputs per signature, op lists, problems) and exits 1 if there are problems.
Keep this module free of tfsft/keras imports: the check is only meaningful in a bare process.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

PYTHON_CALLBACK_OPS = ("PyFunc", "PyFuncStateless", "EagerPyFunc")


class UnloadableSavedModel(Exception):
  """The SavedModel is damaged: the user's to fix (one line, exit 2), not a servability finding."""


def check_servable(saved_model_dir: str, inputs: dict) -> dict:
  """Runs the check in a fresh Python process; `inputs` maps input names to values: lists of
  texts for string inputs, and values for any other input no `tokenize` output feeds (e.g. a
  causal LM's `max_new_tokens`)."""
  with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
    json.dump(inputs, handle)
  try:
    process = subprocess.run(
        [sys.executable, "-m", "tfsft.serving.servability", f"--saved_model={saved_model_dir}",
         f"--inputs_file={handle.name}"], capture_output=True, text=True)
  finally:
    os.unlink(handle.name)
  if not process.stdout.strip():
    raise RuntimeError(f"servability check crashed:\n{process.stderr[-3000:]}")
  return json.loads(process.stdout.strip().splitlines()[-1])


def _audit(saved_model_dir: str, inputs: dict) -> dict:
  import tensorflow as tf
  core_ops = set(dir(tf.raw_ops))
  import tensorflow_text  # noqa: F401  registers the tf-text ops, as TF Serving's build does
  from tensorflow.python.framework import op_def_registry

  problems = []
  with tf.compat.v1.Session(graph=tf.Graph()) as session:
    try:
      meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], saved_model_dir)
    except (OSError, IndexError, tf.errors.OpError) as error:
      # saved_model.pb does not parse (OSError), or variables/ is truncated or missing. Graph-mode
      # messages open with "Graph execution error:" and end with the failing node: keep the cause.
      lines = [line.strip() for line in str(error).splitlines()]
      cause = [line for line in lines if line and not line.endswith(":") and not line.startswith("[[")]
      raise UnloadableSavedModel((cause or lines)[0]) from None
    graph_def = meta_graph.graph_def
    ops = {node.op for node in graph_def.node}
    ops |= {node.op for function in graph_def.library.function for node in function.node_def}
    text_ops = sorted(op for op in ops if op not in core_ops and op_def_registry.get(op) is not None)
    unknown = sorted(op for op in ops if op not in core_ops and op_def_registry.get(op) is None)
    problems += [f"op {op} is neither core TensorFlow nor tensorflow-text" for op in unknown]
    problems += [f"op {op} calls back into Python" for op in ops if op in PYTHON_CALLBACK_OPS]
    # Xla* ops have kernels only where XLA is compiled in, which TF Serving builds need not be.
    problems += [f"op {op} needs XLA" for op in sorted(ops) if op.startswith("Xla")]

    signatures = meta_graph.signature_def
    if "serving_default" not in signatures:
      problems.append("no serving_default signature")
    outputs = {}
    # String-input signatures first: `tokenize` feeds the token-id signatures.
    by_kind = sorted(signatures, key=lambda name: any(
        info.dtype != tf.string.as_datatype_enum for info in signatures[name].inputs.values()))
    for name in by_kind:
      signature = signatures[name]
      feed = {}
      for key, info in signature.inputs.items():
        if key in inputs:  # texts, or a request setting such as max_new_tokens
          feed[info.name] = inputs[key]
        elif info.dtype == tf.string.as_datatype_enum:
          feed[info.name] = _examples(inputs) if key == "inputs" else None
        else:
          feed[info.name] = outputs.get("tokenize", {}).get(key)
        if feed[info.name] is None:
          problems.append(f"signature {name}: no test values for input '{key}'")
      if any(value is None for value in feed.values()):
        continue
      fetches = {key: info.name for key, info in signature.outputs.items()}
      outputs[name] = {key: to_jsonable(value) for key, value in session.run(fetches, feed).items()}
  return {"signatures": outputs, "ops": sorted(ops), "tf_text_ops": text_ops, "problems": problems}


def _examples(inputs):
  """Serialized tf.Examples with one bytes feature per text input (the Classify API's format).
  Scalar inputs (the CLI's default generation settings) are no tf.Example features: left out."""
  import tensorflow as tf
  texts = {key: values for key, values in inputs.items() if isinstance(values, list)}
  examples = []
  for i in range(len(next(iter(texts.values())))):
    feature = {key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[values[i].encode()]))
               for key, values in texts.items()}
    examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
  return examples


def to_jsonable(value):
  if hasattr(value, "tolist"):
    value = value.tolist()
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, list):
    return [to_jsonable(item) for item in value]
  return value


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--saved_model", required=True, help="a version directory, e.g. saved_models/imdb/1")
  parser.add_argument("--inputs_file", help="JSON: input name -> list of strings (or a value for "
                      "a non-text input, e.g. max_new_tokens)")
  parser.add_argument("--text", action="append", help="a test text (repeatable)")
  args = parser.parse_args(argv)
  if not os.path.isfile(os.path.join(args.saved_model, "saved_model.pb")):
    parser.exit(2, f"tfsft: error: {args.saved_model} has no saved_model.pb: pass a version "
                   "directory such as saved_models/imdb/1\n")
  if args.inputs_file:
    with open(args.inputs_file) as handle:
      inputs = json.load(handle)
  else:
    texts = args.text or ["This film was wonderful.", "A dull, tedious mess."]
    # Causal LMs' signatures: a prompt, a completion to score, and one request's settings.
    inputs = {"text": texts, "prompt": texts, "completion": texts, "max_new_tokens": 8,
              "temperature": 0.0, "top_k": 0, "top_p": 1.0, "seed": 0}
  try:
    report = _audit(args.saved_model, inputs)
  except UnloadableSavedModel as error:
    parser.exit(2, f"tfsft: error: {args.saved_model} does not load ({error}): it is damaged or "
                   "incomplete; export it again with tfsft.export\n")
  print(json.dumps(report))
  return 1 if report["problems"] else 0


if __name__ == "__main__":
  sys.exit(main())
