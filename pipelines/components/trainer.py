"""Trainer: tfsft's trainer on an Examples artifact, for any model family and any kind of examples
the pipelines store (pipelines/example_kinds.py: labeled texts, tagged words, questions,
conversations), read by the task the kind names; its model_dir (checkpoints, TensorBoard logs,
eval_results.json, the recorded run config) is the `model_run` output, its SavedModel export the
`model` output.

Resumable: a rerun after a kill continues in the same model_dir, from its last checkpoint. Under a
TF_CONFIG cluster with --strategy=multi_worker_mirrored every worker runs this component alone
(`pipelines.run --components=Trainer`) with the same pipeline root and flags: the chief records the
execution and alone writes and exports (as `tfsft.train` does), the others train beside it.
"""

import dataclasses

from pipelines import artifacts, example_kinds
from pipelines.component import Component


class Trainer(Component):
  INPUTS = {"examples": artifacts.EXAMPLES, "schema": artifacts.SCHEMA}
  OUTPUTS = {"model_run": artifacts.MODEL_RUN, "model": artifacts.MODEL}
  PARAMETERS = {"train_config": None}
  RESUMABLE = True
  DISTRIBUTED = True

  def execute(self, inputs, outputs, context):
    from tfsft import trainer
    results = trainer.run(training_config(self.parameters["train_config"], inputs["examples"],
                                          outputs["model_run"].uri, outputs["model"].uri))
    scores = {name: value for name, value in results.get("validation", {}).items()
              if isinstance(value, (int, float))}
    outputs["model_run"].properties.update(step=results["step"], validation=scores,
                                           data_source=results["data_source"])
    outputs["model"].properties.update(saved_model=results.get("export_path"),
                                       step=results["step"])


def training_config(values: dict, examples, model_dir: str, export_dir: str):
  """The run's TrainConfig with the data read from `examples` (by the task their kind names) and
  the outputs in the artifacts' folders."""
  from tfsft.config import TrainConfig
  config = TrainConfig.from_dict(values)
  kind = example_kinds.of(examples.properties)
  data = dataclasses.replace(
      kind.trainer_data(config.data, examples.properties), data_path=examples.uri,
      tfds_name=None, tfds_data_dir=None,
      # ExampleGen applied these already.
      max_train_examples=None, max_eval_examples=None)
  runtime = dataclasses.replace(config.runtime, model_dir=model_dir, export_dir=export_dir)
  return dataclasses.replace(config, task=kind.trainer_task, data=data, runtime=runtime)
