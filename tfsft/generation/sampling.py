"""From next-token logits to next tokens: greedy, or a seeded draw after temperature, top-k, top-p.

Every function takes float logits [batch, vocabulary] and is made of core TensorFlow ops only
(ArgMax, TopKV2, Cumsum, StatelessMultinomial), so it traces into a servable SavedModel. The
random draw is stateless: the caller passes the seed, so the graph keeps no generator state
(keras-hub's samplers keep a `SeedGenerator` variable that an exported module must track).
"""

import tensorflow as tf

from tfsft.generation.settings import RequestSettings


def next_tokens(logits: tf.Tensor, settings, seed: tf.Tensor) -> tf.Tensor:
  """logits [batch, vocabulary] -> int32 tokens [batch]; `seed` is an int32 [2] tensor.
  `settings` is a DecodingSettings, or RequestSettings whose values are tensors."""
  logits = tf.cast(logits, tf.float32)
  if isinstance(settings, RequestSettings):
    return _next_tokens_per_request(logits, settings, seed)
  if not settings.do_sample:
    return tf.argmax(logits, axis=-1, output_type=tf.int32)
  logits = logits / settings.temperature
  if settings.top_k:
    logits = keep_top_k(logits, settings.top_k)
  if settings.top_p < 1.0:
    logits = keep_top_p(logits, settings.top_p)
  return tf.random.stateless_categorical(logits, 1, seed=seed, dtype=tf.int32)[:, 0]


def keep_top_k(logits: tf.Tensor, k: int) -> tf.Tensor:
  """Logits below the k-th largest of their row become impossible (ties with it stay, as in
  Hugging Face's TopKLogitsWarper)."""
  k = min(k, logits.shape[-1] or k)  # a Python int: XLA needs a static k
  kth_largest = tf.math.top_k(logits, k=k).values[:, -1:]
  return _drop_below(logits, kth_largest)


def keep_top_p(logits: tf.Tensor, top_p: float) -> tf.Tensor:
  """Keeps the smallest set of most likely tokens whose probabilities reach `top_p` (nucleus
  sampling, Holtzman et al. 2019); the most likely token always stays."""
  sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
  probabilities_before = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)
  # A token is kept while the tokens ranked above it hold less than top_p of the mass.
  kept_count = tf.reduce_sum(tf.cast(probabilities_before < top_p, tf.int32), axis=-1)
  smallest_kept = tf.gather(sorted_logits, kept_count[:, tf.newaxis] - 1, batch_dims=1)
  return _drop_below(logits, smallest_kept)


def _drop_below(logits, threshold):
  # The dtype's lowest finite value rather than -inf: softmax and the multinomial draw stay free
  # of inf - inf = NaN even if a caller masks a whole row.
  return tf.where(logits < threshold, logits.dtype.min, logits)


def _next_tokens_per_request(logits, settings: RequestSettings, seed):
  """Temperature 0 is greedy; top_k 0 and top_p 1 keep every token. One descending sort serves
  both cuts (k is a tensor here, so tf.math.top_k's static-k path is not open)."""
  greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
  temperature = tf.cast(settings.temperature, tf.float32)
  scaled = logits / tf.maximum(temperature, 1e-6)
  sorted_logits = tf.sort(scaled, axis=-1, direction="DESCENDING")
  vocabulary = tf.shape(logits)[-1]
  top_k = tf.cast(settings.top_k, tf.int32)
  k = tf.where(top_k > 0, tf.minimum(top_k, vocabulary), vocabulary)
  kth_largest = sorted_logits[:, k - 1:k]
  probabilities_before = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)
  top_p = tf.cast(settings.top_p, tf.float32)
  kept_count = tf.reduce_sum(tf.cast(probabilities_before < top_p, tf.int32), axis=-1)
  kept_count = tf.where(top_p >= 1.0, vocabulary, kept_count)
  smallest_kept = tf.gather(sorted_logits, kept_count[:, tf.newaxis] - 1, batch_dims=1)
  scaled = _drop_below(scaled, tf.maximum(kth_largest, smallest_kept))
  sampled = tf.random.stateless_categorical(scaled, 1, seed=seed, dtype=tf.int32)[:, 0]
  return tf.where(temperature > 0, sampled, greedy)
