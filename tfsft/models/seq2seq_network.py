"""An attentional LSTM encoder-decoder (Luong et al., 2015, "Effective Approaches to
Attention-based Neural Machine Translation", https://arxiv.org/abs/1508.04025).

  source ids -> Embedding -> (bidirectional) LSTM encoder -> memory + final state
  target ids -> Embedding -> LSTM decoder (starts from the encoder's final state)
             -> attention over the memory -> tanh(W [context; decoder output]) -> logits

`call` is teacher-forced (the whole target at once, for training and perplexity); `encode` and
`decode` are the same layers split apart for step-by-step generation (seq2seq_decoding.py).

Attention scores: "luong" is Luong's dot score (keras.layers.Attention); "bahdanau" is the additive
score v·tanh(W1 q + W2 k) (Bahdanau et al., 2015; keras.layers.AdditiveAttention on learned
projections). Both attend from the decoder's output, as in Luong's architecture and the TensorFlow
NMT tutorial, rather than from the previous state as in Bahdanau's original decoder.
"""

import keras
from keras import ops

ATTENTION = ("luong", "bahdanau")


class LstmSeq2Seq(keras.Model):

  def __init__(self, source_vocabulary_size: int, target_vocabulary_size: int, embedding_dim: int,
               lstm_units: int, bidirectional: bool = True, attention: str = "luong",
               dropout: float = 0.1, source_embeddings=None, target_embeddings=None,
               freeze_embeddings: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.bidirectional = bidirectional
    self.attention_kind = attention
    self.source_embedding = _embedding(source_vocabulary_size, embedding_dim, source_embeddings,
                                       freeze_embeddings, "source_embedding")
    self.target_embedding = _embedding(target_vocabulary_size, embedding_dim, target_embeddings,
                                       freeze_embeddings, "target_embedding")
    encoder_lstm = keras.layers.LSTM(lstm_units, return_sequences=True, return_state=True,
                                     name="encoder_lstm")
    self.encoder_rnn = (keras.layers.Bidirectional(encoder_lstm, name="encoder_bilstm")
                        if bidirectional else encoder_lstm)
    # The decoder starts from the encoder's final state, both directions concatenated, so its
    # size matches the memory's (which Luong's dot score needs, too).
    decoder_units = lstm_units * (2 if bidirectional else 1)
    self.decoder_lstm = keras.layers.LSTM(decoder_units, return_sequences=True, return_state=True,
                                          name="decoder_lstm")
    if attention == "luong":
      self.attention = keras.layers.Attention(score_mode="dot", name="luong_attention")
      self.query_projection = self.key_projection = None
    else:
      self.attention = keras.layers.AdditiveAttention(name="bahdanau_attention")
      self.query_projection = keras.layers.Dense(decoder_units, use_bias=False, name="query_projection")
      self.key_projection = keras.layers.Dense(decoder_units, use_bias=False, name="key_projection")
    self.attentional_state = keras.layers.Dense(decoder_units, activation="tanh",
                                                name="attentional_state")
    self.dropout = keras.layers.Dropout(dropout, name="output_dropout")
    # float32 logits even under mixed precision: softmax, the loss and beam scores need the range.
    self.logits = keras.layers.Dense(target_vocabulary_size, dtype="float32", name="logits")

  def call(self, inputs, training=False):
    state = self.encode(inputs["source_ids"], training=training)
    logits, _ = self.decode(inputs["decoder_input_ids"], state, training=training)
    return logits

  def encode(self, source_ids, training=False) -> dict:
    """source ids [batch, time] -> the decoder's starting state: memory (the encoder's outputs),
    attention keys, the memory's padding mask and the LSTM state h, c."""
    embedded = self.source_embedding(source_ids)
    mask = self.source_embedding.compute_mask(source_ids)
    if self.bidirectional:
      memory, forward_h, forward_c, backward_h, backward_c = self.encoder_rnn(
          embedded, mask=mask, training=training)
      h = ops.concatenate([forward_h, backward_h], axis=-1)
      c = ops.concatenate([forward_c, backward_c], axis=-1)
    else:
      memory, h, c = self.encoder_rnn(embedded, mask=mask, training=training)
    # Keys are computed once per source, not once per decoding step.
    keys = self.key_projection(memory) if self.key_projection is not None else memory
    return {"memory": memory, "keys": keys, "memory_mask": mask, "h": h, "c": c}

  def decode(self, target_ids, state: dict, training=False):
    """target ids [batch, time] and a state -> logits [batch, time, vocabulary] and the new state."""
    embedded = self.target_embedding(target_ids)
    mask = self.target_embedding.compute_mask(target_ids)
    outputs, h, c = self.decoder_lstm(embedded, initial_state=[state["h"], state["c"]], mask=mask,
                                      training=training)
    query = self.query_projection(outputs) if self.query_projection is not None else outputs
    context = self.attention([query, state["memory"], state["keys"]],
                             mask=[mask, state["memory_mask"]], training=training)
    hidden = self.attentional_state(ops.concatenate([context, outputs], axis=-1))
    logits = self.logits(self.dropout(hidden, training=training))
    return logits, {**state, "h": h, "c": c}


def _embedding(vocabulary_size, dim, initial_matrix, freeze, name):
  initializer = ("uniform" if initial_matrix is None
                 else keras.initializers.Constant(initial_matrix))
  return keras.layers.Embedding(vocabulary_size, dim, mask_zero=True,
                                embeddings_initializer=initializer,
                                trainable=not (freeze and initial_matrix is not None), name=name)
