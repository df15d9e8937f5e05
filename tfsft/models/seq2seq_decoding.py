"""Generation for the encoder-decoder: greedy and beam search, as graph loops (tf.while_loop) that
trace into a SavedModel with core TensorFlow ops only.

Beam search is TF Model Garden's `sequence_beam_search` (the Transformer NMT one): it keeps finished
hypotheses apart from live ones and ranks them with GNMT's length penalty. keras-hub's BeamSampler
was not used: it keeps extending (and scoring) beams after their end token and has no length
normalisation. Its GreedySampler was not used either: it writes with `XlaDynamicUpdateSlice`, an
XLA op that a standard TF Serving build need not have.
"""

import tensorflow as tf
from official.nlp.modeling.ops import beam_search

LENGTH_PENALTY_ALPHA = 0.6  # GNMT (Wu et al., 2016) and Model Garden's Transformer default


def generate(network, source_ids: tf.Tensor, start_id: int, end_id: int, vocabulary_size: int,
             max_length: int, beam_size: int, never_generate=()) -> tf.Tensor:
  """source ids [batch, time] -> generated target ids [batch, max_length] (without the start token;
  positions after the end token are padding). `never_generate` ids (padding, unknown, start) get
  no probability."""
  state = network.encode(source_ids, training=False)
  suppression = tf.scatter_nd([[i] for i in never_generate], [-1e9] * len(never_generate),
                              [vocabulary_size])

  def next_logits(last_tokens, state):
    logits, state = network.decode(last_tokens[:, tf.newaxis], state, training=False)
    return tf.cast(logits[:, 0], tf.float32) + suppression, state

  batch_size = tf.shape(source_ids)[0]
  if beam_size == 1:
    return _greedy(next_logits, state, tf.fill([batch_size], start_id), end_id, max_length)
  # Model Garden's beam search wants every cache tensor in its score dtype (float32): the bool
  # mask and, under mixed precision, the bfloat16 states travel as float32 and are cast back.
  dtypes = {name: value.dtype for name, value in state.items()}
  as_float = lambda state: {name: tf.cast(value, tf.float32) for name, value in state.items()}

  def next_logits_on_float_cache(ids, index, cache):
    logits, state = next_logits(ids[:, -1], {name: tf.cast(value, dtypes[name])
                                             for name, value in cache.items()})
    return logits, as_float(state)

  sequences, _ = beam_search.sequence_beam_search(
      symbols_to_logits_fn=next_logits_on_float_cache,
      initial_ids=tf.fill([batch_size], start_id), initial_cache=as_float(state),
      vocab_size=vocabulary_size, beam_size=beam_size, alpha=LENGTH_PENALTY_ALPHA,
      max_decode_length=max_length, eos_id=end_id, padded_decode=False, dtype=tf.float32)
  best = sequences[:, 0, 1:]  # beams come sorted by score; drop the start token
  return _pad_to(_blank_after_end(best, end_id), max_length)


def _greedy(next_logits, state, start_tokens, end_id, max_length):
  """The most likely next token at every step, until every row has produced `end_id`."""
  generated = tf.zeros([tf.shape(start_tokens)[0], 0], tf.int32)
  finished = tf.zeros_like(start_tokens, dtype=tf.bool)

  def body(last_tokens, state, finished, generated):
    logits, state = next_logits(last_tokens, state)
    chosen = tf.argmax(logits, axis=-1, output_type=tf.int32)
    chosen = tf.where(finished, tf.zeros_like(chosen), chosen)  # padding after the end
    return (chosen, state, tf.logical_or(finished, tf.equal(chosen, end_id)),
            tf.concat([generated, chosen[:, tf.newaxis]], axis=1))

  def not_done(last_tokens, state, finished, generated):
    return tf.logical_not(tf.reduce_all(finished))

  loop_vars = (start_tokens, state, finished, generated)
  invariants = tf.nest.map_structure(lambda t: t.shape, loop_vars[:3]) + (tf.TensorShape([None, None]),)
  *_, generated = tf.while_loop(not_done, body, loop_vars, shape_invariants=invariants,
                                maximum_iterations=max_length)
  return _pad_to(generated, max_length)


def _blank_after_end(ids, end_id):
  after_end = tf.cumsum(tf.cast(tf.equal(ids, end_id), tf.int32), axis=1, exclusive=True) > 0
  return tf.where(after_end, tf.zeros_like(ids), ids)


def _pad_to(ids, length):
  ids = ids[:, :length]
  return tf.pad(ids, [[0, 0], [0, length - tf.shape(ids)[1]]])
