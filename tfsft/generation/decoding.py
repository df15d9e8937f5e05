"""Token-by-token generation for keras-hub causal LMs, as one graph loop that TF Serving can run.

    decode(causal_lm, token_ids, padding_mask, settings) -> {"token_ids", "padding_mask"}

Works with every keras-hub `CausalLM` whose cache is built by `_build_cache(token_ids)` and read
and written by `call_with_cache(token_ids, cache, cache_update_index)`: GPT2CausalLM,
LlamaCausalLM / Llama3CausalLM, MistralCausalLM, QwenCausalLM, GemmaCausalLM. The model's own
layers compute every logit; this module owns the loop, the token choice (`sampling.py`) and the
stopping, and keeps the cache writes free of XLA ops (`slice_updates.py`).

Padding. Prompts may be padded on either side (or anywhere): `padding_mask` says which tokens
are real, and each row is first packed to the left. Generation then follows keras-hub's own
right-padded layout: one buffer [rows, prompt_length + max_new_tokens], prefilled in one pass,
then one position per step, starting at the shortest prompt's end. A row whose prompt is still
running keeps its prompt token (the step just re-writes that token's keys and values); a row
past its prompt gets the chosen token written over its padding. Each row thus sees exactly its
own tokens at their own positions 0, 1, 2, ... (causal attention never looks at the padding
ahead of it, and every padding slot is overwritten before the row's queries reach it), so a
prompt's greedy tokens do not depend on the other prompts in its batch (sampled ones do
depend on the row's index: each step draws once for the whole batch). Left padding would need
per-row positions and a padding mask over the cache, which `call_with_cache` does not take.
The price of this layout: a batch runs (longest - shortest prompt) extra steps, and the
prefill and every step's attention span the whole buffer, so pad a batch to its longest
prompt rather than to a fixed length.

Stopping. A row stops at the first of `settings.stop_token_ids` it generates (the token is kept
and marked real; what follows is `pad_token_id`, marked padding) or after `max_new_tokens`; the
loop ends when every row has stopped. Stop *strings* (text that spans or splits tokens) are a
text-side matter: detokenize, then cut with `stop_strings.truncate_at_stop_strings`.

Cost, measured once (2026-11-24, 2 shared CPU cores, float32, greedy, 32 new tokens after
prompts of equal length; a SmolLM2-135M-shaped Llama3 with random weights; best of 3 runs after
tracing; keras-hub's `generate` runs the same prefill + 32 steps; its compile() default
jit_compile="auto" turns XLA off on CPU-only machines in Keras 3.15, so this is graph mode):

    batch  prompt   prefill  decode (per step)   keras-hub generate
        1      32    0.06 s   0.83 s  (24 ms)     0.93 s
        4      32    0.15 s   1.22 s  (33 ms)     1.46 s
       16      32    0.52 s   1.81 s  (40 ms)     2.02 s
        4     480    1.32 s   3.25 s  (60 ms)     3.46 s

So the servable loop is no slower than keras-hub's own (docs/benchmarks.md has the real
SmolLM2 against keras-hub with and without XLA). A step at batch 1 is mostly per-op
overhead (its matmuls are 0.27 GFLOP, about 4 ms here). A step grows with the buffer because
keras-hub keeps one cache tensor [batch, layers, 2, length, kv_heads, head_dim] that
`call_with_cache` slices per layer and stacks again every step: at batch 4 x 512 positions that
copy of 94 MB alone takes about 17 ms. Command (from the repository root; arguments: batch,
prompt length):

    python - 4 32 <<'EOF'
    import sys, time, numpy as np, keras_hub, tensorflow as tf
    from tfsft.generation import DecodingSettings, decode
    batch, prompt, new = int(sys.argv[1]), int(sys.argv[2]), 32
    lm = keras_hub.models.Llama3CausalLM(keras_hub.models.Llama3Backbone(  # SmolLM2-135M's shape
        vocabulary_size=49152, num_layers=30, num_query_heads=9, num_key_value_heads=3,
        hidden_dim=576, intermediate_dim=1536, rope_max_wavelength=100000), preprocessor=None)
    ids = np.random.RandomState(0).randint(1, 49152, [batch, prompt + new]).astype("int32")
    mask = np.broadcast_to(np.arange(prompt + new) < prompt, ids.shape)
    def seconds(run):
      run()  # trace (and compile)
      times = []
      for _ in range(3):
        start = time.perf_counter(); run(); times.append(time.perf_counter() - start)
      return min(times)
    settings = DecodingSettings(max_new_tokens=new)
    prefill = seconds(tf.function(lambda: lm._build_cache(ids)))
    ours = seconds(tf.function(lambda: decode(lm, ids[:, :prompt], mask[:, :prompt], settings)))
    lm.compile(sampler="greedy")
    theirs = seconds(lambda: lm.generate({"token_ids": ids, "padding_mask": mask}, stop_token_ids=None))
    print(f"batch {batch}, prompt {prompt}: prefill {prefill:.2f} s; decode {ours:.2f} s "
          f"({(ours - prefill) / new * 1e3:.0f} ms/step); keras-hub generate {theirs:.2f} s")
    EOF
"""

import contextlib
from typing import Optional

import keras
import tensorflow as tf

from tfsft.generation.sampling import next_tokens
from tfsft.generation.settings import DecodingSettings
from tfsft.generation.slice_updates import servable_slice_updates


def decode(causal_lm, token_ids: tf.Tensor, padding_mask: tf.Tensor,
           settings: DecodingSettings, seed: Optional[tf.Tensor] = None,
           jit_compiled: bool = False) -> dict:
  """Generates up to `settings.max_new_tokens` tokens after each prompt.

  Args:
    causal_lm: a keras-hub CausalLM task (GPT2CausalLM, Llama3CausalLM, ...).
    token_ids: int [batch, prompt_length], any padding.
    padding_mask: bool or int [batch, prompt_length], true for prompt tokens; every row needs
      at least one (the start token, for models that use one).
    settings: what to generate and how to choose each token.
    seed: optional int scalar tensor that replaces `settings.seed` (e.g. a serving input, so
      that each request can ask for its own draw).
    jit_compiled: True when the caller compiles the graph with XLA (`tf.function(jit_compile=
      True)`, TPUs). XLA cannot compile `TensorStridedSliceUpdate` at a step-dependent position,
      but compiles keras-hub's own `XlaDynamicUpdateSlice` natively (in place), so the writes
      are left to keras-hub; such a graph is not for TF Serving's standard build. Sampled tokens
      then differ from the uncompiled graph's (XLA has its own random-number kernels).

  Returns:
    {"token_ids": int32 [batch, num_return_sequences, max_new_tokens], the new tokens only,
     left-aligned, then `pad_token_id`; "padding_mask": bool, same shape, true for generated
     tokens (a stop token included)}. The sequences of one prompt differ only when sampling.
  """
  _check_has_cache_api(causal_lm)
  seed = tf.cast(settings.seed if seed is None else seed, tf.int32)
  # Everything keras-hub traces inside writes its cache with core ops (see slice_updates.py).
  with contextlib.nullcontext() if jit_compiled else servable_slice_updates():
    buffer, lengths = _prompts_in_generation_buffer(token_ids, padding_mask,
                                                    settings.max_new_tokens)
    _, cache = causal_lm._build_cache(buffer)  # pylint: disable=protected-access
    # Prefill once per prompt, then copy per returned sequence: every keras-hub cache is
    # batch-major (one [batch, layers, 2, length, heads, head_dim] tensor, or one per layer).
    repeat = lambda tensor: tf.repeat(tensor, settings.num_return_sequences, axis=0)
    buffer, lengths, cache = repeat(buffer), repeat(lengths), tf.nest.map_structure(repeat, cache)
    buffer, generated_counts = _generation_loop(causal_lm, buffer, lengths, cache, settings, seed)
  return _new_tokens(buffer, lengths, generated_counts, settings)


def _check_has_cache_api(causal_lm):
  missing = [name for name in ("call_with_cache", "_build_cache") if not hasattr(causal_lm, name)]
  if missing:
    raise TypeError(f"{type(causal_lm).__name__} has no {' or '.join(missing)}: pass a keras-hub "
                    "CausalLM task (e.g. keras_hub.models.Llama3CausalLM), not its backbone")


def _prompts_in_generation_buffer(token_ids, padding_mask, max_new_tokens):
  """Prompts packed to the left of a [batch, prompt_length + max_new_tokens] int32 buffer (token 0
  after them: a valid id in every vocabulary, overwritten before it is read), and the prompt
  lengths [batch]. The width follows the input's, not the longest prompt's, so that a static
  input width gives static shapes (XLA, TPUs)."""
  is_prompt = tf.cast(padding_mask, tf.bool)
  lengths = tf.reduce_sum(tf.cast(is_prompt, tf.int32), axis=1)
  tf.debugging.assert_positive(
      lengths, message="every prompt needs at least one token (padding_mask is all false)")
  # A stable sort on "is padding" moves each row's prompt tokens to its front, in their order
  # (TopKV2, which the sort uses, keeps equal keys in index order).
  order = tf.argsort(tf.cast(tf.logical_not(is_prompt), tf.int32), axis=1, stable=True)
  packed = tf.gather(tf.cast(token_ids, tf.int32), order, batch_dims=1)
  packed = tf.where(tf.range(tf.shape(packed)[1]) < lengths[:, tf.newaxis], packed, 0)
  return tf.pad(packed, [[0, 0], [0, max_new_tokens]]), lengths


def _generation_loop(causal_lm, buffer, lengths, cache, settings, seed):
  """Fills each row's buffer after its prompt; returns it and the tokens generated per row."""
  stop_ids = tf.constant(settings.stop_token_ids, tf.int32, shape=[len(settings.stop_token_ids)])
  rows = tf.shape(buffer)[0]

  def step(index, buffer, cache, finished, generated_counts):
    # Feeding the token at index - 1 writes its keys/values and predicts position `index`.
    # (tf.gather, not buffer[:, index - 1:index]: XLA reads a slice with tensor bounds as the
    # whole row, silently.)
    previous = tf.gather(buffer, index - 1, axis=1)[:, tf.newaxis]
    logits, _, cache = causal_lm.call_with_cache(previous, cache, index - 1)
    # The pair (seed, step) gives every step its own draw, reproducibly.
    chosen = next_tokens(logits[:, -1, :], settings, tf.stack([seed, index]))
    generating = tf.logical_and(index >= lengths, tf.logical_not(finished))
    written = tf.where(generating, chosen, tf.gather(buffer, index, axis=1))
    # keras.ops.slice_update: the same op as the cache writes, whichever decode() chose.
    buffer = keras.ops.slice_update(buffer, [0, index], written[:, tf.newaxis])
    generated_counts += tf.cast(generating, tf.int32)
    is_stop = tf.reduce_any(tf.equal(chosen[:, tf.newaxis], stop_ids), axis=1)
    finished = tf.logical_or(finished, tf.logical_and(
        generating, tf.logical_or(is_stop, generated_counts >= settings.max_new_tokens)))
    return index + 1, buffer, cache, finished, generated_counts

  def some_row_running(index, buffer, cache, finished, generated_counts):
    return tf.logical_and(index < tf.shape(buffer)[1], tf.logical_not(tf.reduce_all(finished)))

  start = (tf.reduce_min(lengths), buffer, cache, tf.zeros([rows], tf.bool),
           tf.zeros([rows], tf.int32))
  _, buffer, _, _, generated_counts = tf.while_loop(some_row_running, step, start)
  return buffer, generated_counts


def _new_tokens(buffer, lengths, generated_counts, settings):
  """Each row's generated tokens moved to the front: [batch, sequences, max_new_tokens]."""
  steps = tf.range(settings.max_new_tokens)
  token_ids = tf.gather(buffer, lengths[:, tf.newaxis] + steps, batch_dims=1)
  generated = steps < generated_counts[:, tf.newaxis]
  token_ids = tf.where(generated, token_ids, settings.pad_token_id)
  shape = [-1, settings.num_return_sequences, settings.max_new_tokens]
  return {"token_ids": tf.reshape(token_ids, shape), "padding_mask": tf.reshape(generated, shape)}
