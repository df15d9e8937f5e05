"""Trainer: tfsft's trainer on an Examples artifact, for any task and model family whose data are
labeled texts; its model_dir (checkpoints, TensorBoard logs, eval_results.json, the recorded run
config) is the `model_run` output, its SavedModel export the `model` output.

Resumable: a rerun after a kill continues in the same model_dir, from its last checkpoint. Under a
TF_CONFIG cluster with --strategy=multi_worker_mirrored every worker runs this component alone
(`pipelines.run --components=Trainer`) with the same pipeline root and flags: the chief records the
execution and alone writes and exports (as `tfsft.train` does), the others train beside it.
"""

import dataclasses

from pipelines import artifacts
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
  """The run's TrainConfig with the data read from `examples` (as text_classification files: a
  `text` / `text_pair` / `label` feature each) and the outputs in the artifacts' folders."""
  from tfsft.config import TrainConfig
  config = TrainConfig.from_dict(values)
  properties = examples.properties
  data = dataclasses.replace(
      config.data, data_path=examples.uri, tfds_name=None, tfds_data_dir=None,
      text_column="text", label_column=properties["label_feature"],
      text_pair_column="text_pair" if "text_pair" in properties["input_names"] else None,
      regression=not properties["label_names"],
      # ExampleGen applied these already.
      max_train_examples=None, max_eval_examples=None)
  runtime = dataclasses.replace(config.runtime, model_dir=model_dir, export_dir=export_dir)
  return dataclasses.replace(config, task="text_classification", data=data, runtime=runtime)
