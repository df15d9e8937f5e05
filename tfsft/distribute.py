"""`make_strategy`: one place that turns --strategy / --tpu / --cpu_logical_devices into a tf.distribute strategy,
and what multi-worker training needs around it (who writes checkpoints, what a lost worker means)."""

import contextlib
import json
import os
import re
from typing import Optional

import tensorflow as tf
from absl import logging

from tfsft.errors import UserError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu")


def split_cpu(num_devices: int):
  """Splits the CPU into logical devices so MirroredStrategy can be exercised without GPUs.

  Must run before TensorFlow initialises its devices, i.e. before the first op.
  """
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])
  except RuntimeError as error:
    raise UserError(f"--cpu_logical_devices must be applied before TensorFlow starts: {error}") from None


def make_strategy(name: str, tpu: Optional[str] = None,
                  cpu_logical_devices: int = 0) -> tf.distribute.Strategy:
  if name not in STRATEGIES:
    raise UserError(f"unknown strategy '{name}': choose --strategy from {', '.join(STRATEGIES)}")
  if tpu and name not in ("auto", "tpu"):
    raise UserError(f"--tpu={tpu} conflicts with --strategy={name}: drop --tpu or use --strategy=tpu")
  if cpu_logical_devices > 1:
    split_cpu(cpu_logical_devices)
  if name == "multi_worker_mirrored":
    # Collective ops must be configured before the TF runtime starts, and listing logical devices
    # starts it ("Collective ops must be configured at program startup"): build this one first.
    return _logged(MultiWorkerMirroredStrategy(cluster_resolver=_tf_config_cluster()))

  gpus = tf.config.list_logical_devices("GPU")
  if name == "auto":
    name = "tpu" if tpu else ("mirrored" if len(gpus) > 1 else "default")

  if name == "default":
    strategy = tf.distribute.get_strategy()
  elif name == "one_device":
    strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
  elif name == "mirrored":
    # MirroredStrategy ignores CPUs when it finds none of the GPUs it looks for, so name the
    # logical CPUs explicitly when the CPU was split for testing.
    cpus = tf.config.list_logical_devices("CPU")
    devices = [d.name for d in gpus] or [d.name for d in cpus]
    strategy = tf.distribute.MirroredStrategy(devices=devices)
  else:
    if not tpu:
      raise UserError("--strategy=tpu needs --tpu (a TPU name, grpc:// address, or 'local')")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu == "local" else tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    strategy = tf.distribute.TPUStrategy(resolver)
  return _logged(strategy)


def _logged(strategy: tf.distribute.Strategy) -> tf.distribute.Strategy:
  # tf.distribute.MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy: log the name
  # users pass.
  name = ("MultiWorkerMirroredStrategy" if isinstance(strategy, MultiWorkerMirroredStrategy)
          else type(strategy).__name__)
  logging.info("Strategy %s with %d replica(s).", name, strategy.num_replicas_in_sync)
  return strategy


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
  """Reduces the way Keras 3 asks, which TF's multi-worker strategy refuses.

  With more than one worker Keras 3 reduces through `strategy.reduce` alone, and TF's collective
  reduce takes neither of its requests (keras-team/keras#20329, #20585): a whole (features,
  targets) batch to learn its shapes ("Attempt to convert a value ({'token_ids': PerReplica..."),
  and `axis=0` on scalar losses and metrics ("Invalid reduction dimension 0 for input with 0
  dimensions"). MirroredStrategy maps over nested values and Keras means "across replicas" for
  scalars, so that is what this does.
  """

  def reduce(self, reduce_op, value, axis):
    def reduce_one(one):
      scalar = self.experimental_local_results(one)[0].shape.rank == 0
      return super(MultiWorkerMirroredStrategy, self).reduce(reduce_op, one,
                                                             None if scalar else axis)

    return tf.nest.map_structure(reduce_one, value)


TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host0:port", "host1:port"]}, '
                     '"task": {"type": "worker", "index": <this worker\'s position in the list>}}')


def _tf_config_cluster() -> tf.distribute.cluster_resolver.TFConfigClusterResolver:
  """The cluster TF_CONFIG describes (none: a single worker), refused in one line when this
  worker's task is not part of it; TF's own errors come as tracebacks from deep in the strategy."""
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  try:
    cluster = resolver.cluster_spec().as_dict()
    task_type, task_id = resolver.task_type, resolver.task_id
  except (ValueError, TypeError, AttributeError) as error:  # json.JSONDecodeError is a ValueError
    raise UserError(f"TF_CONFIG cannot be read ({error}): set it to {TF_CONFIG_EXAMPLE}") from None
  if cluster and not (task_type in cluster and 0 <= (task_id or 0) < len(cluster[task_type])):
    raise UserError(f"TF_CONFIG's task (type {task_type}, index {task_id}) is not in its cluster "
                    f"{json.dumps(cluster)}: set it to {TF_CONFIG_EXAMPLE}")
  return resolver


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this worker owns the files in --model_dir: the `chief` task when the cluster has one,
  else worker 0 (the convention of TF's multi-worker training guide)."""
  return _is_chief_task(getattr(strategy, "cluster_resolver", None))


def is_chief_task() -> bool:
  """`is_chief` of the multi-worker strategy TF_CONFIG describes, before it is built (it must be
  built before anything else starts the TF runtime, so callers that decide earlier ask this)."""
  return _is_chief_task(_tf_config_cluster())


def _is_chief_task(resolver) -> bool:
  if resolver is None or resolver.task_type is None:
    return True
  if "chief" in resolver.cluster_spec().as_dict():
    return resolver.task_type == "chief"
  return resolver.task_type == "worker" and resolver.task_id == 0


class ScratchCheckpointManager(tf.train.CheckpointManager):
  """A non-chief worker's checkpoints: written, because every worker takes part in each save, then
  deleted, because only the chief's copy is kept (TF's multi-worker training guide does the same).
  A leftover directory from a killed run is deleted too."""

  def __init__(self, checkpoint: tf.train.Checkpoint, directory: str):
    if tf.io.gfile.exists(directory):
      tf.io.gfile.rmtree(directory)
    super().__init__(checkpoint, directory, max_to_keep=1)

  def save(self, checkpoint_number=None, check_interval=True, options=None):
    path = super().save(checkpoint_number, check_interval, options)
    tf.io.gfile.rmtree(self.directory)
    return path


# What collective ops raise on the surviving workers when a peer dies (its connections reset) or
# stops answering (TF's coordination service misses its heartbeats, for 10 s by default, and
# aborts every collective): training cannot go on without restarting every worker.
_PEER_LOST_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                     tf.errors.AbortedError, tf.errors.CancelledError)


@contextlib.contextmanager
def lost_worker_as_user_error(strategy: tf.distribute.Strategy, checkpoint_dir: str):
  """Turns a lost peer's collective error into a line saying how to resume, instead of TF's
  traceback through Keras internals."""
  try:
    yield
  except _PEER_LOST_ERRORS as error:
    if not (isinstance(strategy, MultiWorkerMirroredStrategy)
            and strategy.cluster_resolver.cluster_spec().as_dict()):
      raise
    logging.error("Collective op failed: %s", error.message)
    cause = re.search(r"aborted by: (.+)", error.message)
    raise UserError(
        f"a worker of the cluster was lost ({cause.group(1) if cause else type(error).__name__}): "
        f"restart every worker with the same command; they resume from the last checkpoint in "
        f"{os.path.abspath(checkpoint_dir)}") from None
