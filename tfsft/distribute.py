"""`make_strategy`: one place that turns --strategy / --tpu / --cpu_logical_devices into a tf.distribute strategy."""

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
  elif name == "multi_worker_mirrored":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # cluster from TF_CONFIG
  else:
    if not tpu:
      raise UserError("--strategy=tpu needs --tpu (a TPU name, grpc:// address, or 'local')")
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="" if tpu == "local" else tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    strategy = tf.distribute.TPUStrategy(resolver)
  logging.info("Strategy %s with %d replica(s).", type(strategy).__name__,
               strategy.num_replicas_in_sync)
  return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this worker owns the files in --model_dir: the `chief` task when the cluster has one,
  else worker 0 (the convention of TF's multi-worker training guide)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or resolver.task_type is None:
    return True
  if "chief" in resolver.cluster_spec().as_dict():
    return resolver.task_type == "chief"
  return resolver.task_type == "worker" and resolver.task_id == 0
