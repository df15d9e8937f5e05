"""Runs a pipeline's components in order on this machine, recording everything in the metadata
store under the pipeline root.

Caching: a component whose cache key (code, parameters, input artifacts) matches a finished
execution reuses that execution's outputs, so a rerun of an unchanged pipeline executes nothing,
and a rerun after a failure or a kill starts at the first component that did not finish. A
RESUMABLE component (the Trainer) killed mid-way continues in its earlier output folders.
"""

import os
import time
from typing import Dict, Iterable, Optional

from absl import logging

from pipelines import metadata
from pipelines.artifacts import Artifact
from pipelines.component import Component, ExecutionContext, Pipeline, PipelineStop
from tfsft.errors import UserError


# How long a non-chief worker waits for the chief to start the component they run together.
CHIEF_WAIT_S = 600


def run(pipeline: Pipeline, pipeline_root: str, beam_pipeline_args: Iterable[str] = (),
        serving_dir: Optional[str] = None, only: Optional[Iterable[str]] = None,
        chief: bool = True) -> Dict[str, Dict[str, Artifact]]:
  """Every component's outputs by component id. `only`: execute just these components (one step
  of a Kubeflow pipeline); the others' outputs come from their last finished executions.
  `chief=False`: this process is a non-chief worker of a TF_CONFIG cluster; it executes only
  DISTRIBUTED components, beside the chief's executions of them, and records nothing."""
  only = None if only is None else set(only)
  unknown = sorted((only or set()) - {component.id for component in pipeline.components})
  if unknown:
    raise UserError(f"pipeline {pipeline.name} has no component {unknown[0]}: choose from "
                    f"{', '.join(component.id for component in pipeline.components)}")
  os.makedirs(pipeline_root, exist_ok=True)
  produced: Dict[str, Dict[str, Artifact]] = {}
  with metadata.open_store(pipeline_root) as store:
    contexts = [store.context("pipeline", pipeline.name),
                store.context("pipeline_run", f"{pipeline.name}-{time.strftime('%Y%m%d-%H%M%S')}"
                              f"-{os.getpid()}")] if chief else []

    def make_context(execution_id):
      return ExecutionContext(pipeline.name, pipeline_root, execution_id,
                              tuple(beam_pipeline_args), serving_dir)

    def executed(component):
      return (only is None or component.id in only) and (chief or component.DISTRIBUTED)

    # Up to the last component executed; the earlier ones' outputs are its inputs.
    last = max((i for i, component in enumerate(pipeline.components) if executed(component)),
               default=-1)
    for component in pipeline.components[:last + 1]:
      inputs = {key: produced[channel.producer][channel.key]
                for key, channel in component.inputs.items()}
      if not executed(component):
        produced[component.id] = _last_outputs(store, component)
        continue
      produced[component.id] = (
          _execute(store, component, inputs, contexts, make_context) if chief
          else _execute_beside_chief(store, component, inputs, make_context))
  return produced


def _execute(store, component: Component, inputs, contexts, make_context) -> Dict[str, Artifact]:
  key = component.cache_key(inputs)
  done = _finished_execution(store, key)
  if done is not None:
    outputs = store.artifacts_of(done["id"], metadata.OUTPUT)
    execution_id = store.start_execution(component.id, type(component).__name__, key,
                                         {"cached_from": done["id"]}, inputs, contexts)
    store.record_outputs(execution_id, outputs, contexts)
    store.finish_execution(execution_id, metadata.CACHED, outputs)
    logging.info("%s: cached, outputs of execution %d reused.", component.id, done["id"])
    _stop_if_asked(component, done["properties"].get("stop"))
    return outputs
  outputs = _resumed_outputs(store, component, key)
  execution_id = store.start_execution(component.id, type(component).__name__, key,
                                       {"parameters": component.parameters}, inputs, contexts)
  if outputs is None:
    outputs = {name: Artifact(type_name, os.path.join(
                   make_context(execution_id).pipeline_root, component.id, name, str(execution_id)))
               for name, type_name in component.OUTPUTS.items()}
  for artifact in outputs.values():
    os.makedirs(artifact.uri, exist_ok=True)
  store.record_outputs(execution_id, outputs, contexts)
  logging.info("%s: execution %d started.", component.id, execution_id)
  started = time.time()
  try:
    stop = component.execute(inputs, outputs, make_context(execution_id))
  except BaseException:
    store.finish_execution(execution_id, metadata.FAILED, outputs)
    raise
  store.finish_execution(execution_id, metadata.COMPLETE, outputs,
                         {"parameters": component.parameters, "stop": stop,
                          "seconds": round(time.time() - started, 2)})
  logging.info("%s: execution %d finished in %.1f s.", component.id, execution_id,
               time.time() - started)
  _stop_if_asked(component, stop)
  return outputs


def _finished_execution(store, key: str) -> Optional[dict]:
  """The last finished execution with this cache key whose outputs are all still there."""
  done = store.last_execution(key, (metadata.COMPLETE,))
  if done is None or not all(os.path.exists(artifact.uri) for artifact in
                             store.artifacts_of(done["id"], metadata.OUTPUT).values()):
    return None
  return done


def _execute_beside_chief(store, component: Component, inputs,
                          make_context) -> Dict[str, Artifact]:
  """A non-chief worker: waits for the chief's execution with the same cache key (the same flags
  and inputs; a different key would be another run, so it is never joined), then executes in its
  output folders. Nothing is recorded: the execution and its results are the chief's."""
  key = component.cache_key(inputs)
  deadline = time.time() + CHIEF_WAIT_S
  while True:
    done = _finished_execution(store, key)
    if done is not None:  # the chief will reuse it: nothing to do together
      logging.info("%s: cached, outputs of execution %d reused.", component.id, done["id"])
      return store.artifacts_of(done["id"], metadata.OUTPUT)
    # A RUNNING one the chief left behind when killed has the folders it resumes in.
    running = store.last_execution(key, (metadata.RUNNING,))
    if running is not None:
      break
    if time.time() > deadline:
      raise UserError(f"{component.id}: no chief started it with these flags within "
                      f"{CHIEF_WAIT_S} s: start the chief (TF_CONFIG's chief, else worker 0) with "
                      "the same flags and --pipeline_root")
    time.sleep(1)
  outputs = store.artifacts_of(running["id"], metadata.OUTPUT)
  logging.info("%s: working beside the chief's execution %d.", component.id, running["id"])
  component.execute(inputs, outputs, make_context(running["id"]))
  return outputs


def _resumed_outputs(store, component: Component, key: str) -> Optional[Dict[str, Artifact]]:
  """The output artifacts of an unfinished execution of a RESUMABLE component, reused."""
  if not component.RESUMABLE:
    return None
  unfinished = store.last_execution(key, (metadata.RUNNING, metadata.FAILED))
  if unfinished is None:
    return None
  if unfinished["state"] == metadata.RUNNING and _process_alive(unfinished["pid"]):
    raise UserError(f"{component.id} is already running in process {unfinished['pid']} "
                    f"(execution {unfinished['id']}): wait for it or stop it first")
  store.finish_execution(unfinished["id"], metadata.FAILED, {})
  logging.info("%s: resuming execution %d's outputs (it did not finish).", component.id,
               unfinished["id"])
  return store.artifacts_of(unfinished["id"], metadata.OUTPUT)


def _last_outputs(store, component: Component) -> Dict[str, Artifact]:
  for execution in reversed(store.executions()):
    if (execution["component"] == component.id
        and execution["state"] in (metadata.COMPLETE, metadata.CACHED)):
      return store.artifacts_of(execution["id"], metadata.OUTPUT)
  raise UserError(f"{component.id} has not run in this pipeline root yet: run it first")


def _stop_if_asked(component: Component, stop: Optional[str]):
  if stop:
    raise PipelineStop(f"{component.id}: {stop}")


def _process_alive(pid) -> bool:
  if pid is None or pid == os.getpid():
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True
