"""The component contract: typed inputs and outputs, JSON parameters, and `execute`.

A component is declared as in TFX: `StatisticsGen(examples=example_gen.outputs["examples"])`.
Keyword arguments named in INPUTS are channels from earlier components; the others are parameters,
which must be JSON values (they are recorded, and they are part of the cache key).
"""

import dataclasses
import hashlib
import inspect
import json
from typing import Dict, List, Optional, Tuple

import tfsft
from pipelines.artifacts import Artifact
from tfsft.errors import UserError


class PipelineStop(UserError):
  """A component found a reason not to go on (anomalies in the data): the run stops there, with
  one line naming the problem."""


@dataclasses.dataclass(frozen=True)
class Channel:
  """An output of a component, as another component's input."""
  producer: str  # the producing component's id
  key: str
  type_name: str


@dataclasses.dataclass
class ExecutionContext:
  pipeline_name: str
  pipeline_root: str
  execution_id: int
  beam_pipeline_args: Tuple[str, ...] = ()
  serving_dir: Optional[str] = None

  def beam_pipeline(self):
    """A Beam pipeline with the run's --beam_pipeline_args: the same code runs on Flink, Spark or
    Dataflow through their runner options. Without a --runner, Beam's in-process FnApiRunner (the
    DirectRunner would first try to download its Prism binary)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    args = list(self.beam_pipeline_args)
    if not any(arg.startswith("--runner") for arg in args):
      args.append("--runner=FnApiRunner")
    return beam.Pipeline(options=PipelineOptions(args))


class Component:
  """Subclasses set INPUTS and OUTPUTS ({key: artifact type}), PARAMETERS ({name: default}) and
  implement `execute`, which fills the output folders and properties and may return a reason to
  stop the pipeline."""
  INPUTS: Dict[str, str] = {}
  OPTIONAL_INPUTS: Tuple[str, ...] = ()
  OUTPUTS: Dict[str, str] = {}
  PARAMETERS: Dict[str, object] = {}
  # A rerun after a kill continues in the killed execution's output folders (the Trainer resumes
  # from its last checkpoint) instead of starting over in new ones.
  RESUMABLE = False
  # Runs on every worker of a TF_CONFIG cluster at once (the Trainer under
  # MultiWorkerMirroredStrategy): the chief records the execution, the other workers work in its
  # output folders.
  DISTRIBUTED = False

  def __init__(self, *, id: Optional[str] = None, **arguments):  # pylint: disable=redefined-builtin
    self.id = id or type(self).__name__
    unknown = set(arguments) - set(self.INPUTS) - set(self.PARAMETERS)
    if unknown:
      raise TypeError(f"{self.id} takes no argument {sorted(unknown)[0]!r}")
    self.inputs: Dict[str, Channel] = {}
    for key, type_name in self.INPUTS.items():
      channel = arguments.get(key)
      if channel is None:
        if key not in self.OPTIONAL_INPUTS:
          raise TypeError(f"{self.id} needs its input {key!r}")
        continue
      if channel.type_name != type_name:
        raise TypeError(f"{self.id}: input {key!r} takes {type_name}, not {channel.type_name}")
      self.inputs[key] = channel
    self.parameters = {name: arguments.get(name, default)
                       for name, default in self.PARAMETERS.items()}
    json.dumps(self.parameters)  # refuses what the metadata store could not record
    self.outputs = {key: Channel(self.id, key, type_name)
                    for key, type_name in self.OUTPUTS.items()}

  def execute(self, inputs: Dict[str, Artifact], outputs: Dict[str, Artifact],
              context: ExecutionContext) -> Optional[str]:
    raise NotImplementedError

  def fingerprint(self) -> dict:
    """What else decides the outputs beyond inputs and parameters (ExampleGen: its source files)."""
    return {}

  def cache_key(self, inputs: Dict[str, Artifact]) -> str:
    """Same key, same outputs: the component's code, tfsft's version, the parameters and the
    input artifacts (by id: a recomputed input is a new artifact)."""
    record = {
        "component": self.id, "type": type(self).__name__, "tfsft": tfsft.__version__,
        "code": _source_digest(type(self)), "parameters": self.parameters,
        "inputs": {key: artifact.id for key, artifact in sorted(inputs.items())},
        "fingerprint": self.fingerprint(),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _source_digest(component_type) -> str:
  """The component's module source: editing a component invalidates its cached outputs."""
  source = inspect.getsource(inspect.getmodule(component_type))
  return hashlib.sha256(source.encode()).hexdigest()[:16]


@dataclasses.dataclass
class Pipeline:
  name: str
  components: List[Component]

  def __post_init__(self):
    seen = set()
    for component in self.components:
      if component.id in seen:
        raise ValueError(f"pipeline {self.name}: two components named {component.id}")
      for channel in component.inputs.values():
        if channel.producer not in seen:
          raise ValueError(f"pipeline {self.name}: {component.id} reads {channel.producer}, "
                           "which must come before it")
      seen.add(component.id)

  def upstream(self, component: Component) -> List[str]:
    return sorted({channel.producer for channel in component.inputs.values()})
