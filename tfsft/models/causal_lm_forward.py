"""Next-token logits from a keras-hub decoder backbone, for rows that may hold several packed
examples (see data/packing.py).

keras-hub's functional backbones take only a padding mask, so attention across packed examples
cannot be blocked through them; this calls the backbone's own layers (same weights) with a
block-causal attention mask instead. Rotary models (Llama, Mistral, Qwen) need nothing more:
RoPE attention scores depend only on relative positions, so an example at any offset in a row
scores as it would alone. GPT-2's learned absolute positions also need each example's positions
to restart at 0, which keras-hub's PositionEmbedding accepts as `positions`.
"""

import keras
import tensorflow as tf

from tfsft.data.packing import block_causal_mask


def can_pack(backbone) -> bool:
  """Whether `backbone`'s decoder layers take an attention mask (Gemma's do not)."""
  layers = getattr(backbone, "transformer_layers", None)
  return bool(layers) and "decoder_attention_mask" in layers[0].call.__code__.co_varnames


def packed_logits(backbone, token_ids, segment_ids, positions, training=None) -> tf.Tensor:
  """[batch, length, vocabulary] logits; position i predicts token i + 1 of its own example."""
  x = backbone.token_embedding(token_ids)
  if hasattr(backbone, "position_embedding"):  # GPT-2: learned absolute positions
    x = backbone.embeddings_add((x, backbone.position_embedding(x, positions=positions)))
    x = backbone.embeddings_dropout(x, training=training)
  mask = block_causal_mask(segment_ids)
  for layer in backbone.transformer_layers:
    x = layer(x, decoder_attention_mask=mask, training=training)
  # ReversibleEmbedding: the tied embedding matrix, or the separate output matrix when untied.
  return backbone.token_embedding(backbone.layer_norm(x), reverse=True)


def next_token_loss_terms(logits, token_ids, segment_ids, trained):
  """(summed cross-entropy, number of trained targets) over a batch of rows. A target counts when
  it is trained and follows a token of its own example, so packed and unpacked rows give the same
  terms; the caller divides the sums of the whole global batch."""
  targets = token_ids[:, 1:]
  same_example = tf.logical_and(tf.equal(segment_ids[:, 1:], segment_ids[:, :-1]),
                                segment_ids[:, 1:] > 0)
  weights = tf.cast(tf.logical_and(same_example, tf.cast(trained[:, 1:], tf.bool)), tf.float32)
  cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
      targets, tf.cast(logits[:, :-1], tf.float32))
  return tf.reduce_sum(cross_entropy * weights), tf.reduce_sum(weights)


class NextTokenModel(keras.Model):
  """The training view of a keras-hub causal LM: batches of rows (data/token_batches.py) ->
  logits, with the loss averaged over the trained tokens of the whole global batch.

  Keras averages a loss per replica and then over replicas, which weighs a replica's tokens by
  how few it has; here each replica's summed cross-entropy is divided by the global count of
  trained tokens (one all-reduce), and Keras' optimizer sums the replicas' gradients, so the
  step follows the mean over all trained tokens, as in TRL and torchtune. Packed and unpacked
  rows give the same loss (tests/models/test_packing.py).
  """

  def __init__(self, causal_lm, **kwargs):
    super().__init__(**kwargs)
    self.causal_lm = causal_lm
    self.perplexity = _TokenPerplexity(name="perplexity")

  def call(self, features, training=None):
    backbone = self.causal_lm.backbone
    if not can_pack(backbone):
      # Gemma's decoder layers take no attention mask (and its backbone scales the embeddings
      # itself): its rows hold one example each (packing is refused for it), starting at
      # position 0, which the model's own forward pass handles with a padding mask.
      return self.causal_lm({"token_ids": features["token_ids"],
                             "padding_mask": features["segment_ids"] > 0}, training=training)
    return packed_logits(backbone, features["token_ids"], features["segment_ids"],
                         features["positions"], training=training)

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
    total, count = next_token_loss_terms(y_pred, x["token_ids"], x["segment_ids"], x["trained"])
    self.perplexity.update_state(total, count)
    replica = tf.distribute.get_replica_context()
    global_count = replica.all_reduce("sum", count) if replica else count
    # Not scaled by 1 / replicas as Keras' Loss objects do: the replicas' gradients are summed,
    # so the sum of total / global_count over replicas is the global mean.
    return total / tf.maximum(global_count, 1.0)


class _TokenPerplexity(keras.metrics.Metric):
  """exp(summed cross-entropy / trained tokens) since the last reset: the training perplexity."""

  def __init__(self, name="perplexity", **kwargs):
    super().__init__(name=name, **kwargs)
    self.total = self.add_variable(shape=(), initializer="zeros", name="total")
    self.count = self.add_variable(shape=(), initializer="zeros", name="count")

  def update_state(self, total, count):
    self.total.assign_add(tf.cast(total, self.dtype))
    self.count.assign_add(tf.cast(count, self.dtype))

  def result(self):
    return tf.exp(self.total / tf.maximum(self.count, 1.0))
