"""The classic Keras text classifier's encoder, trained from scratch:
TextVectorization (vocabulary from the training split) -> Embedding -> bidirectional LSTM.
The Embedding layer can start from word2vec / GloVe vectors (--pretrained_embeddings), e.g. ones
made by `python -m tfsft.word2vec`, whose tokens match TextVectorization's.
"""

import os

import keras
import tensorflow as tf

from tfsft.config import ModelConfig
from tfsft.errors import UserError
from tfsft.models.encoder import ModelFamily, TextEncoder, join_pair, refuse_init_checkpoint
from tfsft.models.pretrained_embeddings import embedding_matrix

FEATURES = ("token_ids",)
_VOCABULARY_FILE = "vocabulary.txt"


def build(config: ModelConfig, train_examples: tf.data.Dataset) -> TextEncoder:
  vectorizer = _vectorizer(config)
  vectorizer.adapt(train_examples.map(lambda text, target: join_pair(text)).batch(1024))
  description = "a new vocabulary from the training split"
  initial_embeddings = None
  if config.pretrained_embeddings:
    initial_embeddings, found = embedding_matrix(
        config.pretrained_embeddings, vectorizer.get_vocabulary(), config.embedding_dim)
    description += (f", embeddings for {found} of {vectorizer.vocabulary_size()} words from "
                    f"{config.pretrained_embeddings}{' (frozen)' if config.freeze_embeddings else ''}")
  return _encoder(config, vectorizer, description, initial_embeddings)


def save(encoder: TextEncoder, directory: str):
  vocabulary = encoder.preprocessor.get_vocabulary(include_special_tokens=False)
  with open(os.path.join(directory, _VOCABULARY_FILE), "w", encoding="utf-8") as handle:
    handle.writelines(f"{token}\n" for token in vocabulary)


def restore(config: ModelConfig, directory: str) -> TextEncoder:
  vectorizer = _vectorizer(config)
  with open(os.path.join(directory, _VOCABULARY_FILE), encoding="utf-8") as handle:
    vectorizer.set_vocabulary([line.rstrip("\n") for line in handle])
  return _encoder(config, vectorizer, f"model_dir vocabulary {directory}")


def _vectorizer(config: ModelConfig):
  return keras.layers.TextVectorization(
      max_tokens=config.vocab_size, output_sequence_length=config.max_seq_length,
      name="text_vectorization")


def _encoder(config, vectorizer, description, initial_embeddings=None):
  vocabulary_size = vectorizer.vocabulary_size()
  token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
  initializer = ("uniform" if initial_embeddings is None
                 else keras.initializers.Constant(initial_embeddings))
  embedded = keras.layers.Embedding(
      vocabulary_size, config.embedding_dim, mask_zero=True, embeddings_initializer=initializer,
      trainable=not config.freeze_embeddings, name="token_embedding")(token_ids)
  sequence, forward_h, _, backward_h, _ = keras.layers.Bidirectional(
      keras.layers.LSTM(config.lstm_units, return_sequences=True, return_state=True),
      name="bilstm")(embedded)
  pooled = keras.layers.Concatenate(name="final_states")([forward_h, backward_h])
  backbone = keras.Model({"token_ids": token_ids},
                         {"pooled_output": pooled, "sequence_output": sequence}, name="lstm_backbone")
  return TextEncoder(preprocessor=vectorizer, backbone=backbone, feature_names=FEATURES,
                     description=f"LSTM from scratch, {description} ({vocabulary_size} tokens)")


def check_flags(config: ModelConfig):
  refuse_init_checkpoint(config)
  if config.pretrained_target_embeddings:
    raise UserError("--pretrained_target_embeddings is for --model=lstm_seq2seq (the decoder's "
                    "Embedding layer)")


FAMILY = ModelFamily(build=build, save=save, restore=restore, default_learning_rate=1e-3,
                     check_flags=check_flags)
