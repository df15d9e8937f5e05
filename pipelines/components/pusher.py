"""Pusher: a model blessed by both the Evaluator and the InfraValidator is copied into the serving
directory as its next numeric version, `saved_model.pb` last (TF Serving takes a version whose
saved_model.pb exists as complete), inside a staging folder renamed into place
(tfsft/serving/versioning.py). An unblessed model is never pushed; the log and the `pushed_model`
artifact say why.
"""

import os
import shutil

from absl import logging

from pipelines import artifacts
from pipelines.component import Component
from tfsft.errors import UserError


class Pusher(Component):
  INPUTS = {"model": artifacts.MODEL, "model_blessing": artifacts.MODEL_BLESSING,
            "infra_blessing": artifacts.INFRA_BLESSING}
  OUTPUTS = {"pushed_model": artifacts.PUSHED_MODEL}

  def execute(self, inputs, outputs, context):
    from tfsft.serving import versioning
    if not context.serving_dir:
      raise UserError("the Pusher needs --serving_dir (TF Serving's model base path)")
    pushed = outputs["pushed_model"]
    reasons = [*inputs["model_blessing"].properties.get("reasons", []),
               *inputs["infra_blessing"].properties.get("problems", [])]
    if not (inputs["model_blessing"].properties.get("blessed")
            and inputs["infra_blessing"].properties.get("blessed")):
      pushed.properties.update(pushed=0, reasons=reasons)
      logging.warning("Pusher: not pushed: %s", "; ".join(reasons) or "not blessed")
      return None
    source = inputs["model"].properties["saved_model"]
    version = versioning.publish(context.serving_dir, lambda staging: copy_saved_model(source,
                                                                                       staging))
    with open(os.path.join(pushed.uri, "pushed_to"), "w") as handle:
      handle.write(version + "\n")
    pushed.properties.update(pushed=1, pushed_destination=version,
                             pushed_version=int(os.path.basename(version)), source=source)
    logging.info("Pusher: pushed %s as %s.", source, version)
    return None


def copy_saved_model(source: str, destination: str):
  """Everything but saved_model.pb first, then saved_model.pb."""
  shutil.copytree(source, destination, ignore=lambda folder, names: (
      ["saved_model.pb"] if os.path.samefile(folder, source) else []))
  shutil.copyfile(os.path.join(source, "saved_model.pb"),
                  os.path.join(destination, "saved_model.pb"))
