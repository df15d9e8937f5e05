"""pipelines.runner and the metadata store with small components of their own: caching, what
invalidates it, resuming a RESUMABLE component in its earlier folders, stops, lineage, and a
non-chief worker joining its chief's execution."""

import os

import pytest

from pipelines import lineage, metadata, runner
from pipelines.artifacts import Artifact
from pipelines.component import Component, Pipeline, PipelineStop
from tfsft.errors import UserError


class WriteNumber(Component):
  OUTPUTS = {"number": "Number"}
  PARAMETERS = {"value": 1}

  def execute(self, inputs, outputs, context):
    with open(os.path.join(outputs["number"].uri, "value"), "w") as handle:
      handle.write(str(self.parameters["value"]))
    outputs["number"].properties["value"] = self.parameters["value"]


class Double(Component):
  INPUTS = {"number": "Number"}
  OUTPUTS = {"doubled": "Number"}
  PARAMETERS = {"fail": False, "stop": None}
  RESUMABLE = True

  def execute(self, inputs, outputs, context):
    progress = os.path.join(outputs["doubled"].uri, "attempts")
    attempts = (int(open(progress).read()) if os.path.exists(progress) else 0) + 1
    with open(progress, "w") as handle:
      handle.write(str(attempts))
    if self.parameters["fail"] and attempts == 1:
      raise RuntimeError("killed")
    outputs["doubled"].properties.update(value=2 * inputs["number"].properties["value"],
                                         attempts=attempts)
    return self.parameters["stop"]


def _pipeline(value=1, **double):
  first = WriteNumber(value=value)
  return Pipeline("numbers", [first, Double(number=first.outputs["number"], **double)])


def _states(root):
  with metadata.open_store(str(root)) as store:
    return [(execution["component"], execution["state"]) for execution in store.executions()]


def test_a_rerun_is_cached_and_a_changed_parameter_reruns_what_follows(tmp_path):
  first = runner.run(_pipeline(), str(tmp_path))
  assert first["Double"]["doubled"].properties["value"] == 2
  assert first["WriteNumber"]["number"].uri == os.path.join(str(tmp_path), "WriteNumber",
                                                            "number", "1")
  again = runner.run(_pipeline(), str(tmp_path))
  assert again["Double"]["doubled"].id == first["Double"]["doubled"].id
  assert _states(tmp_path)[2:] == [("WriteNumber", "CACHED"), ("Double", "CACHED")]
  changed = runner.run(_pipeline(value=5), str(tmp_path))
  assert changed["Double"]["doubled"].properties["value"] == 10
  assert _states(tmp_path)[4:] == [("WriteNumber", "COMPLETE"), ("Double", "COMPLETE")]


def test_a_resumable_component_continues_in_its_earlier_outputs(tmp_path):
  with pytest.raises(RuntimeError, match="killed"):
    runner.run(_pipeline(fail=True), str(tmp_path))
  outputs = runner.run(_pipeline(fail=True), str(tmp_path))
  doubled = outputs["Double"]["doubled"]
  assert doubled.properties["attempts"] == 2  # the same folder: the first attempt's file was there
  assert doubled.uri.endswith(os.path.join("Double", "doubled", "2"))
  assert _states(tmp_path) == [("WriteNumber", "COMPLETE"), ("Double", "FAILED"),
                               ("WriteNumber", "CACHED"), ("Double", "COMPLETE")]
  with metadata.open_store(str(tmp_path)) as store:
    assert store.execution(store.producer(doubled.id))["state"] == "COMPLETE"
    lines = lineage.lineage_lines(store, doubled.id)
  assert lines[0].startswith("Number #")
  assert "<- Double execution #4 (COMPLETE)" in lines[1]
  assert any("<- WriteNumber execution #1" in line for line in lines)


def test_a_stop_stops_again_when_cached_and_only_runs_one_component(tmp_path):
  for _ in range(2):
    with pytest.raises(PipelineStop, match="^Double: bad data$"):
      runner.run(_pipeline(stop="bad data"), str(tmp_path))
  assert _states(tmp_path)[-1] == ("Double", "CACHED")
  runner.run(_pipeline(), str(tmp_path), only=["WriteNumber"])
  with pytest.raises(UserError, match="has no component Nope"):
    runner.run(_pipeline(), str(tmp_path), only=["Nope"])
  with pytest.raises(UserError, match="WriteNumber has not run"):
    runner.run(_pipeline(), str(tmp_path / "fresh"), only=["Double"])


class DistributedDouble(Double):
  DISTRIBUTED = True


def test_a_non_chief_worker_executes_in_the_chiefs_folders_and_records_nothing(tmp_path,
                                                                               monkeypatch):
  first = WriteNumber()
  pipeline = Pipeline("numbers", [first, DistributedDouble(number=first.outputs["number"])])
  runner.run(pipeline, str(tmp_path), only=["WriteNumber"])
  monkeypatch.setattr(runner, "CHIEF_WAIT_S", 0)
  with pytest.raises(UserError, match="^DistributedDouble: no chief started it with these flags "
                     "within 0 s: start the chief"):
    runner.run(pipeline, str(tmp_path), chief=False)
  # The chief's execution, as a kill leaves it: the worker joins it in its folders.
  with metadata.open_store(str(tmp_path)) as store:
    number = store.artifacts_of(1, metadata.OUTPUT)
    component = pipeline.components[1]
    key = component.cache_key({"number": number["number"]})
    running = store.start_execution(component.id, "DistributedDouble", key, {}, number, [])
    store.record_outputs(running, {"doubled": Artifact(
        "Number", str(tmp_path / "chief_folder"))}, [])
  os.makedirs(tmp_path / "chief_folder")
  before = _states(tmp_path)
  outputs = runner.run(pipeline, str(tmp_path), chief=False)
  assert outputs["DistributedDouble"]["doubled"].uri == str(tmp_path / "chief_folder")
  assert os.path.exists(tmp_path / "chief_folder" / "attempts")
  assert _states(tmp_path) == before  # nothing recorded: WriteNumber not even marked cached


def test_components_refuse_wrong_wiring():
  with pytest.raises(TypeError, match="needs its input 'number'"):
    Double()
  with pytest.raises(TypeError, match="takes no argument 'colour'"):
    WriteNumber(colour=1)
  first = WriteNumber()
  with pytest.raises(ValueError, match="must come before it"):
    Pipeline("backwards", [Double(number=first.outputs["number"]), first])
