"""Keras 3's AdamW with each variable's update done by one fused TensorFlow kernel.

Keras writes Adam's update as about fifteen element-wise ops per variable (and weight decay as
three more, evaluating the learning-rate schedule again for every variable). Each op streams the
whole variable through memory, and each one is traced into the step function. TensorFlow's
`ResourceApplyAdam` does the moment updates and the parameter step in one pass. On MiniLM
(22.7M parameters, 2 CPU cores, batch 32 x 16 tokens) a step took 0.515 s against 0.600 s, and the
first (tracing) step 15 s against 22 s (docs/benchmarks.md, "Faster steps").

The arithmetic is Keras' own, term for term (decoupled decay first, then
m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), var -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)),
and the slots are Keras' `momentum` and `velocity` variables, so checkpoints written with
keras.optimizers.AdamW restore into this class and back.

Two things Keras 3.15 gets wrong are done right here, as PyTorch's clip_grad_norm_ and AdamW do them:
  * Global-norm clipping happens after the gradients are summed over replicas. Keras clips each
    replica's share first, so a MirroredStrategy run took different steps from a one-device run.
  * An embedding's gradient (IndexedSlices, one slice per token occurrence) is summed before it is
    squared. Keras squares slice by slice, so a token seen k times in a batch entered the clipping
    norm and Adam's second moment as k small squares instead of one square of the sum.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfsft")
class FusedAdamW(keras.optimizers.AdamW):
  """keras.optimizers.AdamW (no amsgrad) for the TensorFlow backend, one kernel per variable."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    if self.amsgrad:
      raise ValueError("FusedAdamW has no amsgrad: use keras.optimizers.AdamW")

  def _clip_gradients(self, grads):
    """Global-norm clipping waits for _backend_update_step (after the all-reduce)."""
    return grads if self.global_clipnorm else super()._clip_gradients(grads)

  def _backend_update_step(self, grads, trainable_variables, learning_rate):
    variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
    pairs = self._all_reduce_sum_gradients(list(zip(grads, variables)))
    # Dense, as in Keras' and PyTorch's Adam: every row's moments decay at every step.
    grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g, _ in pairs]
    if self.global_clipnorm:
      grads, _ = tf.clip_by_global_norm(grads, self.global_clipnorm)
    # Keras hands `learning_rate` on to update_step per variable; the step's scalars go in its
    # place, computed once per dtype instead of a dozen scalar ops per variable (each one traced
    # into the step function and run by the executor at every step).
    scalars = {dtype.name: self._step_scalars(learning_rate, dtype)
               for dtype in {variable.dtype for variable in variables}}
    tf.__internal__.distribute.interim.maybe_merge_call(
        self._distributed_tf_update_step, self._distribution_strategy,
        list(zip(grads, variables)), scalars)

  def _step_scalars(self, learning_rate, dtype) -> dict:
    """What ResourceApplyAdam takes besides the variable, its slots and its gradient, plus the
    decoupled decay's factor 1 - decay * lr."""
    learning_rate = tf.cast(learning_rate, dtype)
    step = tf.cast(self.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
    return {"lr": learning_rate, "beta1": beta_1, "beta2": beta_2,
            "beta1_power": tf.pow(beta_1, step), "beta2_power": tf.pow(beta_2, step),
            "epsilon": tf.cast(self.epsilon, dtype),
            "decay_factor": 1 - tf.cast(self.weight_decay or 0.0, dtype) * learning_rate}

  def _apply_weight_decay(self, variables):
    """Weight decay happens in update_step, right before the same variable's Adam step, with the
    learning rate evaluated once per step rather than once per variable."""

  def update_step(self, gradient, variable, learning_rate):
    # `variable` is a tf.Variable, or under tf.distribute one replica's component inside
    # `extended.update`, where a distributed slot's `.handle` is that same replica's component.
    # `learning_rate` is _backend_update_step's scalars per dtype; a bare learning rate (a caller
    # other than Keras' TensorFlow update loop) gets its scalars here.
    dtype = variable.dtype
    scalars = (learning_rate[dtype.name] if isinstance(learning_rate, dict)
               else self._step_scalars(learning_rate, dtype))
    if self.weight_decay and self._use_weight_decay(variable):
      # var * (1 - decay * lr) and an assign, which takes the product's buffer over: one pass over
      # the variable, where Keras' assign_sub(var * decay * lr) makes two (MiniLM's embedding:
      # 10-13 ms against 20 ms a step on 2 cores).
      variable.assign(variable * scalars["decay_factor"])
    index = self._get_variable_index(variable)
    adam = {name: value for name, value in scalars.items() if name != "decay_factor"}
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=self._momentums[index].value.handle,
        v=self._velocities[index].value.handle, grad=tf.cast(gradient, dtype), use_locking=False,
        **adam)
