"""The run's numeric precision: `--mixed_precision=auto` resolved for the hardware and the model,
and the Keras dtype policy scoped to one build, so that a process which trains or loads several
models (tests, notebooks, tfsft.export) builds each in its own run's precision."""

import contextlib
from typing import Optional

import keras
import tensorflow as tf
from absl import logging

CHOICES = ("auto", "none", "mixed_bfloat16", "mixed_float16")

# GPUs from Ampere on run bfloat16 matmuls at full speed; older ones emulate them slowly.
_BFLOAT16_GPU_CAPABILITY = (8, 0)
# x86 CPU features with bfloat16 dot products (AVX512-BF16, AMX); oneDNN uses them from TF.
_BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def resolve(requested: str, bfloat16_by_default: bool, peft: bool, tpu: Optional[str]) -> str:
  """A concrete --mixed_precision for the run to record. "auto" is mixed_bfloat16 for full
  fine-tuning of a family whose accuracy in bfloat16 was checked against float32
  (docs/benchmarks.md), on hardware with fast bfloat16; "none" otherwise. PEFT runs keep float32:
  their frozen base's precision is --base_dtype."""
  if requested != "auto":
    return requested
  if not bfloat16_by_default or peft:
    return "none"
  hardware = bfloat16_hardware(tpu)
  if hardware is None:
    logging.info("--mixed_precision=auto: float32 (no bfloat16 units found on this machine).")
    return "none"
  logging.info("--mixed_precision=auto: mixed_bfloat16 (%s).", hardware)
  return "mixed_bfloat16"


def bfloat16_hardware(tpu: Optional[str]) -> Optional[str]:
  """What runs bfloat16 fast here (a TPU, Ampere-or-later GPUs, a CPU with AVX512-BF16 or AMX),
  or None. Lists physical devices only: the TF runtime must not start before the strategy."""
  if tpu:
    return "a TPU"
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    capabilities = [tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
                    for gpu in gpus]
    if min(capabilities) >= _BFLOAT16_GPU_CAPABILITY:
      return f"GPUs of compute capability {min(capabilities)}"
    return None
  flags = _cpu_flags()
  found = [flag for flag in _BFLOAT16_CPU_FLAGS if flag in flags]
  return f"the CPU has {' and '.join(found)}" if found else None


def _cpu_flags() -> set:
  try:
    with open("/proc/cpuinfo") as handle:
      for line in handle:
        if line.startswith("flags"):
          return set(line.split(":", 1)[1].split())
  except OSError:  # not Linux: no way to tell here, so float32
    pass
  return set()


def keras_policy(mixed_precision: str) -> str:
  return "float32" if mixed_precision == "none" else mixed_precision


@contextlib.contextmanager
def global_dtype_policy(name: str):
  """Keras builds layers in the global dtype policy; this sets it for one build and puts the
  previous one back."""
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)
