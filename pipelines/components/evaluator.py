"""Evaluator: the candidate SavedModel's metrics on the eval split, overall and per slice, as its
examples' kind scores them through the export's signatures (pipelines/scoring.py): a classifier's
accuracy, F1, ... by label and text length; a tagger's entity F1 by sentence length; a reader's
SQuAD exact match and F1; a generator's BLEU, ROUGE-L, exact match and reference perplexity by
prompt length. Then a blessing: BLESSED when every threshold holds, the model clears its kind's
floor (a classifier beats always answering the most common label), and it is not worse than the
model now served (the newest version in the serving directory) by more than `min_change` allows
(default: the kind's headline metric, e.g. accuracy or reference perplexity, not worse).

Outputs: `evaluation` (metrics.json, and TensorBoard summaries in logs/), `blessing` (an empty
BLESSED or NOT_BLESSED file, as TFX writes them, and the reasons as properties).
"""

import json
import os

import tensorflow as tf
from absl import logging

from pipelines import artifacts, example_kinds
from pipelines.component import Component
from pipelines.scoring import LOWER_IS_BETTER, SCORERS
from tfsft.data import tfx_examples
from tfsft.errors import UserError

METRICS_FILE = "metrics.json"


class Evaluator(Component):
  INPUTS = {"examples": artifacts.EXAMPLES, "model": artifacts.MODEL}
  OUTPUTS = {"evaluation": artifacts.EVALUATION, "blessing": artifacts.MODEL_BLESSING}
  PARAMETERS = {
      "split": "eval",
      "thresholds": {},  # metric -> the least (log_loss: the most) a blessed model reaches
      # metric -> least improvement on the served model; None: the scorer's default.
      "min_change": None,
      "length_buckets": [64, 256],  # text (or prompt) length slices, in words
      "batch_size": 32,
  }

  def execute(self, inputs, outputs, context):
    examples = inputs["examples"]
    kind = example_kinds.of(examples.properties)
    if kind.label_feature and not examples.properties["label_names"]:
      raise UserError("the Evaluator does not score regression yet (this pipeline's labels are "
                      "numbers): run its steps up to --components=Trainer")
    scorer = SCORERS[kind.name]
    rows = read_rows(examples, self.parameters["split"])
    candidate = inputs["model"].properties["saved_model"]
    report = {"model": candidate, "split": self.parameters["split"],
              **scorer.scores(candidate, rows, examples.properties, self.parameters)}
    baseline = served_model(context.serving_dir)
    if baseline:
      report["baseline"] = {"model": baseline,
                            **scorer.scores(baseline, rows, examples.properties, self.parameters)}
    min_change = (scorer.default_min_change if self.parameters["min_change"] is None
                  else self.parameters["min_change"])
    reasons = _reasons_not_to_bless(report, self.parameters["thresholds"], min_change,
                                    scorer.floor_reasons(report["overall"], rows,
                                                         examples.properties))
    report["blessed"], report["reasons"] = not reasons, reasons
    evaluation, blessing = outputs["evaluation"], outputs["blessing"]
    with open(os.path.join(evaluation.uri, METRICS_FILE), "w") as handle:
      json.dump(report, handle, indent=2)
    _summaries(os.path.join(evaluation.uri, "logs"), report,
               inputs["model"].properties.get("step", 0), scorer.slice_metric)
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


def read_rows(examples, split):
  """The eval split's examples as {feature: value} rows."""
  folder = tfx_examples.split_dir(examples.uri, split)
  if not os.path.isdir(folder):
    raise UserError(f"the examples at {examples.uri} have no {split} split: evaluate one of "
                    f"{', '.join(examples.properties['split_names'])}")
  return example_kinds.of(examples.properties).read_rows(folder, examples.properties)


def _reasons_not_to_bless(report, thresholds, min_change, floor_reasons):
  overall = report["overall"]
  reasons = []
  for metric, bound in sorted(thresholds.items()):
    value = overall.get(metric)
    if value is None:
      reasons.append(f"no metric {metric!r} to check (the metrics are {', '.join(overall)})")
    elif (value > bound) if metric in LOWER_IS_BETTER else (value < bound):
      reasons.append(f"{metric} {value:.4f} is {'above' if metric in LOWER_IS_BETTER else 'below'}"
                     f" the threshold {bound}")
  reasons += floor_reasons
  baseline = report.get("baseline")
  for metric, least in sorted(min_change.items()):
    if baseline is None:
      continue
    if metric not in overall or metric not in baseline["overall"]:
      reasons.append(f"no metric {metric!r} to compare with the served model (the metrics are "
                     f"{', '.join(overall)})")
      continue
    change = overall[metric] - baseline["overall"][metric]
    if metric in LOWER_IS_BETTER:
      change = -change
    if change < least:
      reasons.append(f"{metric} {overall[metric]:.4f} against the served model's "
                     f"{baseline['overall'][metric]:.4f} ({baseline['model']}): a change of "
                     f"{change:+.4f}, {least:+} needed")
  return reasons


def _summaries(logdir, report, step, slice_metric):
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default(step=step):
    for name, value in report["overall"].items():
      if isinstance(value, float):
        tf.summary.scalar(f"eval/{name}", value)
    for slice_name, metrics in report["slices"].items():
      tf.summary.scalar(f"eval_slices/{slice_name}/{slice_metric}", metrics[slice_metric])
    if report.get("samples"):
      cell = lambda text: text.replace("|", "\\|").replace("\n", "<br>")
      tf.summary.text("eval/generated", "\n".join(
          ["| prompt | reference | generated |", "|---|---|---|"] +
          [f"| {cell(row['prompt'])} | {cell(row['reference'])} | {cell(row['generated'])} |"
           for row in report["samples"]]))
    tf.summary.text("eval/blessing", "BLESSED" if report["blessed"]
                    else "NOT_BLESSED: " + "; ".join(report["reasons"]))
  writer.close()
