"""KV-cache writes that TF Serving's standard build can run.

keras-hub's attention layers write the key/value cache themselves, inside `call_with_cache`, with
`keras.ops.slice_update`; Keras' TensorFlow backend lowers that to `XlaDynamicUpdateSlice`, an op
with kernels only where XLA is compiled in, which TF Serving's standard build is not
(tensorflow/serving#2214, #2217). `TensorStridedSliceUpdate` is the core-TensorFlow op that does
the same write.

Why a scoped override of the backend function rather than our own attention: the write happens
deep inside each architecture's attention layer (GPT-2's CachedMultiHeadAttention, Llama's,
Mistral's, Qwen's, Gemma's ...), next to RoPE, grouped-query heads, sliding windows and soft
caps that differ per model. Calling those layers with a cache we update ourselves would mean
re-implementing every attention layer and keeping it in step with keras-hub; swapping the one
backend function they all call keeps keras-hub's numerics and covers every model at once.
The swap only matters while a graph is traced (the op is chosen then), so `decode` enters it
around its own body: whoever traces it, and whenever it is traced again, gets the servable op.
Under XLA the roles flip: XLA compiles `XlaDynamicUpdateSlice` natively but needs a constant
start for `TensorStridedSliceUpdate`, so `decode(..., jit_compiled=True)` leaves keras-hub's op.
(`tf.tensor_scatter_nd_update` would serve both, but was about 8% slower than the strided
update without XLA, and with XLA on CPU about ten times slower than keras-hub's `generate`;
batch 4 x 512 positions, SmolLM2-135M's shape.)
"""

import contextlib
import threading

import tensorflow as tf
from keras.src import backend as keras_backend

_lock = threading.RLock()


def update_slice(inputs, start_indices, updates):
  """`inputs` with `updates` written at `start_indices` (one per axis; ints or int tensors).

  Unlike XLA's dynamic-update-slice, start indices are not clamped: the update must fit, as it
  always does for a cache written at the current step.
  """
  inputs = tf.convert_to_tensor(inputs)
  updates = tf.cast(updates, inputs.dtype)
  begin = tf.stack([tf.cast(index, tf.int32) for index in start_indices])
  return tf.raw_ops.TensorStridedSliceUpdate(
      input=inputs, begin=begin, end=begin + tf.shape(updates, out_type=tf.int32),
      strides=tf.ones_like(begin), value=updates)


@contextlib.contextmanager
def servable_slice_updates():
  """Within this block, `keras.ops.slice_update` builds `TensorStridedSliceUpdate`, not Xla ops.

  `keras.ops.slice_update` looks up `keras.src.backend.core.slice_update` at every call, so
  replacing that attribute reaches every keras-hub layer. The lock keeps two threads from
  restoring each other's swap; re-entering from the same thread (nested tracing) is fine.
  """
  with _lock:
    backend_core = keras_backend.core
    original = backend_core.slice_update
    backend_core.slice_update = update_slice
    try:
      yield
    finally:
      backend_core.slice_update = original
