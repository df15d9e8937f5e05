"""The trainable pieces parameter-efficient fine-tuning adds to a frozen projection.

  LoraProjection     base(x) + alpha/r * B(A(dropout(x)))       (Hu et al., 2021)
  BottleneckAdapter  y + up(gelu(down(y))) for y = base(x)       (Houlsby et al., 2019)

Both wrap a built keras Dense or EinsumDense layer (keras-hub's attention and feed-forward
projections) and leave it untouched, so `merged_kernel` can fold a LoRA update back into it for
serving. The low-rank factors follow the kernel's own einsum: A contracts the input dimensions the
kernel contracts, B produces the dimensions the kernel produces. Flattened, A is PEFT's
`lora_A.weight` transposed ([in, r]) and B its `lora_B.weight` transposed ([r, out]).
"""

import math
import string
from typing import NamedTuple, Tuple

import keras
import numpy as np
from keras import ops


class KernelLayout(NamedTuple):
  """How a projection's kernel maps inputs to outputs, as einsum letter groups."""
  inputs: str  # the input's letters ("..." for Dense)
  kernel: str
  outputs: str
  contracted: str  # kernel letters summed over: the input features, in kernel order
  produced: str  # kernel letters that reach the output: the output features, in kernel order


def kernel_layout(layer) -> KernelLayout:
  """The einsum of a Dense (`...i,io->...o`) or EinsumDense layer, split into the kernel's input
  and output letters."""
  if isinstance(layer, keras.layers.EinsumDense):
    operands, outputs = layer.equation.split("->")
    inputs, kernel = operands.split(",")
  elif isinstance(layer, keras.layers.Dense):
    inputs, kernel, outputs = "...i", "io", "...o"
  else:
    raise TypeError(f"{layer.name} is a {type(layer).__name__}, not a Dense or EinsumDense layer")
  contracted = "".join(letter for letter in kernel if letter in inputs and letter not in outputs)
  produced = "".join(letter for letter in kernel if letter in outputs and letter not in inputs)
  if len(contracted) + len(produced) != len(kernel):
    raise ValueError(f"{layer.name}: kernel letters of {layer.equation} that are both input and "
                     "output have no low-rank form")
  return KernelLayout(inputs, kernel, outputs, contracted, produced)


def _rank_letter(layout: KernelLayout) -> str:
  return next(letter for letter in string.ascii_letters
              if letter not in layout.inputs + layout.kernel + layout.outputs)


def _spelled_out(equation: str, batch_rank: int) -> str:
  """`equation` with its "..." (a Dense layer's leading dimensions) written as letters. TF's
  einsum takes a broadcasting path for "...", whose gradient is about 17x slower here than the
  same contraction spelled out (8x64x1536 inputs, rank 8: 60 ms against 3.5 ms a step); on
  SmolLM2's feed-forward projections it made a LoRA step slower than a full fine-tuning one."""
  if "..." not in equation:
    return equation
  unused = [letter for letter in string.ascii_letters if letter not in equation]
  return equation.replace("...", "".join(unused[:batch_rank]))


def _dims(layer, layout: KernelLayout, letters: str) -> Tuple[int, ...]:
  shape = tuple(layer.kernel.shape)
  return tuple(shape[layout.kernel.index(letter)] for letter in letters)


@keras.saving.register_keras_serializable(package="tfsft")
class LoraProjection(keras.layers.Layer):
  """A frozen projection plus a trainable rank-`rank` update scaled by `scale`.

  A starts as PEFT and the paper start it (Kaiming-uniform, bound 1/sqrt(fan_in)), B at zero, so
  the wrapped layer computes exactly what the base layer did until training moves B. The update
  runs in float32 whatever the base's dtype (--base_dtype=bfloat16 keeps only the frozen weights
  in bfloat16)."""

  def __init__(self, base, rank: int, scale: float, dropout: float = 0.0, **kwargs):
    super().__init__(name=f"{base.name}_lora", dtype="float32", **kwargs)
    self.base = base
    self.rank, self.scale = rank, scale
    layout = self.layout = kernel_layout(base)
    r = _rank_letter(layout)
    kept = "".join(letter for letter in layout.inputs if letter not in layout.contracted)
    self._down = f"{layout.inputs},{layout.contracted}{r}->{kept}{r}"
    self._up = f"{kept}{r},{r}{layout.produced}->{layout.outputs}"
    self._merge = f"{layout.contracted}{r},{r}{layout.produced}->{layout.kernel}"
    in_dims, out_dims = _dims(base, layout, layout.contracted), _dims(base, layout, layout.produced)
    bound = 1.0 / math.sqrt(int(np.prod(in_dims)))
    self.lora_a = self.add_weight(
        name="lora_a", shape=(*in_dims, rank),
        initializer=keras.initializers.RandomUniform(-bound, bound))
    self.lora_b = self.add_weight(name="lora_b", shape=(rank, *out_dims), initializer="zeros")
    self.dropout = keras.layers.Dropout(dropout) if dropout else None

  def call(self, inputs, training=None):
    outputs = self.base(inputs)
    update = self.dropout(inputs, training=training) if self.dropout else inputs
    down, up = (_spelled_out(equation, len(inputs.shape) - len(self.layout.contracted))
                for equation in (self._down, self._up))
    update = ops.einsum(down, ops.cast(update, "float32"), self.lora_a)
    update = ops.einsum(up, update, self.lora_b) * self.scale
    return outputs + ops.cast(update, outputs.dtype)

  def merged_kernel(self):
    """The base kernel with this update folded in: what the layer computes, in one projection."""
    update = ops.einsum(self._merge, self.lora_a, self.lora_b) * self.scale
    return self.base.kernel + ops.cast(update, self.base.kernel.dtype)

  def compute_output_shape(self, input_shape):
    return self.base.compute_output_shape(input_shape)


@keras.saving.register_keras_serializable(package="tfsft")
class BottleneckAdapter(keras.layers.Layer):
  """y + up(gelu(down(y))) on a frozen projection's output y: Houlsby's adapter, placed after the
  attention output and the feed-forward output projections. `up` starts at zero, so the adapter
  starts as the identity. Nonlinear, so unlike LoRA it stays in the exported model."""

  def __init__(self, base, size: int, **kwargs):
    super().__init__(name=f"{base.name}_adapter", dtype="float32", **kwargs)
    self.base = base
    layout = kernel_layout(base)
    if len(layout.produced) != 1:
      raise ValueError(f"{base.name} produces {len(layout.produced)} feature dimensions; adapters "
                       "go after output projections, which produce one")
    (features,) = _dims(base, layout, layout.produced)
    self.down = keras.layers.Dense(size, activation="gelu", name="adapter_down",
                                   kernel_initializer=keras.initializers.TruncatedNormal(stddev=1e-2))
    self.up = keras.layers.Dense(features, name="adapter_up", kernel_initializer="zeros")
    self.down.build((None, features))
    self.up.build((None, size))

  def call(self, inputs, training=None):
    outputs = self.base(inputs)
    update = self.up(self.down(ops.cast(outputs, "float32")))
    return outputs + ops.cast(update, outputs.dtype)

  def compute_output_shape(self, input_shape):
    return self.base.compute_output_shape(input_shape)
