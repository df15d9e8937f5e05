"""Artifacts: what components read and write, a folder (`uri`) and properties, typed by name as in
TFX's standard artifact types."""

import dataclasses
from typing import Optional

# TFX's standard artifact type names, so lineage reads like a TFX pipeline's.
EXAMPLES = "Examples"
STATISTICS = "ExampleStatistics"
SCHEMA = "Schema"
ANOMALIES = "ExampleAnomalies"
MODEL_RUN = "ModelRun"  # the trainer's model_dir: checkpoints, TensorBoard logs, eval_results.json
MODEL = "Model"
EVALUATION = "ModelEvaluation"
MODEL_BLESSING = "ModelBlessing"
INFRA_BLESSING = "InfraBlessing"
PUSHED_MODEL = "PushedModel"


@dataclasses.dataclass
class Artifact:
  type_name: str
  uri: str
  properties: dict = dataclasses.field(default_factory=dict)
  id: Optional[int] = None  # set by the metadata store when the artifact is recorded
