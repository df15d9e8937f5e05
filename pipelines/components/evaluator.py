"""Evaluator: the candidate SavedModel's metrics on the eval split, overall and per slice (true
label, text length), and a blessing: BLESSED when every threshold holds, the model beats always
answering the most common label, and it is not worse than the model now served (the newest
version in the serving directory) by more than `min_change` allows.

Outputs: `evaluation` (metrics.json, and TensorBoard summaries in logs/), `blessing` (an empty
BLESSED or NOT_BLESSED file, as TFX writes them, and the reasons as properties).
"""

import json
import os

import numpy as np
import tensorflow as tf
from absl import logging

from pipelines import artifacts
from pipelines.component import Component
from tfsft.data import tables, tfx_examples
from tfsft.errors import UserError

LOWER_IS_BETTER = ("log_loss",)
METRICS_FILE = "metrics.json"


class Evaluator(Component):
  INPUTS = {"examples": artifacts.EXAMPLES, "model": artifacts.MODEL}
  OUTPUTS = {"evaluation": artifacts.EVALUATION, "blessing": artifacts.MODEL_BLESSING}
  PARAMETERS = {
      "split": "eval",
      "thresholds": {},  # metric -> the least (log_loss: the most) a blessed model reaches
      "min_change": {"accuracy": 0.0},  # metric -> least improvement on the served model
      "length_buckets": [64, 256],  # text length slices, in words
      "batch_size": 32,
  }

  def execute(self, inputs, outputs, context):
    examples = inputs["examples"]
    if not examples.properties["label_names"]:
      raise UserError("the Evaluator scores classifiers; this pipeline's labels are numbers")
    rows = _rows(examples, self.parameters["split"])
    candidate = inputs["model"].properties["saved_model"]
    report = {"model": candidate, "split": self.parameters["split"],
              **_scores(candidate, rows, examples.properties, self.parameters)}
    baseline = served_model(context.serving_dir)
    if baseline:
      report["baseline"] = {"model": baseline,
                            **_scores(baseline, rows, examples.properties, self.parameters)}
    reasons = _reasons_not_to_bless(report, self.parameters, rows, examples.properties)
    report["blessed"], report["reasons"] = not reasons, reasons
    evaluation, blessing = outputs["evaluation"], outputs["blessing"]
    with open(os.path.join(evaluation.uri, METRICS_FILE), "w") as handle:
      json.dump(report, handle, indent=2)
    _summaries(os.path.join(evaluation.uri, "logs"), report,
               inputs["model"].properties.get("step", 0))
    open(os.path.join(blessing.uri, "NOT_BLESSED" if reasons else "BLESSED"), "w").close()
    overall = {name: value for name, value in report["overall"].items()
               if isinstance(value, (int, float))}
    evaluation.properties.update(overall=overall, baseline=baseline)
    blessing.properties.update(blessed=int(not reasons), reasons=reasons,
                               candidate=candidate, baseline=baseline)
    logging.info("Evaluator: %s.", "BLESSED" if not reasons else "NOT_BLESSED: " + "; ".join(reasons))


def served_model(serving_dir):
  """The newest numeric version under the serving directory (what TF Serving serves), or None."""
  from tfsft.serving import versioning
  versions = versioning.existing_versions(serving_dir) if serving_dir else []
  return os.path.join(serving_dir, str(versions[-1])) if versions else None


def _rows(examples, split):
  folder = tfx_examples.split_dir(examples.uri, split)
  if not os.path.isdir(folder):
    raise UserError(f"the examples at {examples.uri} have no {split} split: evaluate one of "
                    f"{', '.join(examples.properties['split_names'])}")
  names = [*examples.properties["input_names"], examples.properties["label_feature"]]
  values, _ = tables.read_columns(folder, names)
  return [dict(zip(values, row)) for row in zip(*values.values())]


def _scores(saved_model, rows, properties, parameters):
  """Metrics overall and per slice for one SavedModel."""
  from tfsft.serving import batch_predictions
  from tfsft.metrics.classification import classification_metrics
  inputs = [{name: row[name] for name in properties["input_names"]} for row in rows]
  answers = list(batch_predictions.predict(saved_model, ("eval split", list(enumerate(inputs, 1))),
                                           parameters["batch_size"]))
  names = list(properties["label_names"])
  if list(answers[0]["scores"]) != names:
    raise UserError(f"{saved_model} answers classes {list(answers[0]['scores'])}, the data has "
                    f"{names}: evaluate a model trained on these labels")
  probabilities = np.array([[answer["scores"][name] for name in names] for answer in answers])
  labels = np.array([names.index(row[properties["label_feature"]]) for row in rows])
  report = {"overall": classification_metrics(labels, probabilities, names), "slices": {}}
  for slice_name, members in _slices(rows, properties, parameters["length_buckets"]).items():
    members = np.array(members)
    report["slices"][slice_name] = classification_metrics(labels[members],
                                                          probabilities[members], names)
  return report


def _slices(rows, properties, length_buckets):
  """slice name ("label=pos", "text_words=64-256") -> the rows' indices in it."""
  slices = {}
  label = properties["label_feature"]
  edges = [0, *length_buckets, None]
  for index, row in enumerate(rows):
    slices.setdefault(f"{label}={row[label]}", []).append(index)
    words = len(row[properties["input_names"][0]].split())
    for low, high in zip(edges, edges[1:]):
      if high is None or words < high:
        slices.setdefault(f"text_words={low}-{high or 'inf'}", []).append(index)
        break
  return dict(sorted(slices.items()))


def _reasons_not_to_bless(report, parameters, rows, properties):
  overall = report["overall"]
  reasons = []
  for metric, bound in sorted(parameters["thresholds"].items()):
    value = overall.get(metric)
    if value is None:
      reasons.append(f"no metric {metric!r} to check (the metrics are {', '.join(overall)})")
    elif (value > bound) if metric in LOWER_IS_BETTER else (value < bound):
      reasons.append(f"{metric} {value:.4f} is {'above' if metric in LOWER_IS_BETTER else 'below'}"
                     f" the threshold {bound}")
  labels = [row[properties["label_feature"]] for row in rows]
  common = max(set(labels), key=labels.count)
  majority = labels.count(common) / len(labels)
  if overall["accuracy"] <= majority:
    reasons.append(f"accuracy {overall['accuracy']:.4f} does not beat always answering "
                   f"{common!r} ({majority:.4f})")
  baseline = report.get("baseline")
  for metric, least in sorted(parameters["min_change"].items()):
    if baseline is None or metric not in overall:
      continue
    change = overall[metric] - baseline["overall"][metric]
    if metric in LOWER_IS_BETTER:
      change = -change
    if change < least:
      reasons.append(f"{metric} {overall[metric]:.4f} against the served model's "
                     f"{baseline['overall'][metric]:.4f} ({baseline['model']}): a change of "
                     f"{change:+.4f}, {least:+} needed")
  return reasons


def _summaries(logdir, report, step):
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default(step=step):
    for name, value in report["overall"].items():
      if isinstance(value, float):
        tf.summary.scalar(f"eval/{name}", value)
    for slice_name, metrics in report["slices"].items():
      tf.summary.scalar(f"eval_slices/{slice_name}/accuracy", metrics["accuracy"])
    tf.summary.text("eval/blessing", "BLESSED" if report["blessed"]
                    else "NOT_BLESSED: " + "; ".join(report["reasons"]))
  writer.close()
