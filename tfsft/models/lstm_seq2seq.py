"""The LSTM encoder-decoder family (--model=lstm_seq2seq), trained from scratch.

Source and target vocabularies are Keras TextVectorization layers adapted on the training split.
Text is lower-cased, punctuation becomes its own token and every Unicode space counts as a space
(Tatoeba's French puts a narrow no-break space before "!" and "?"). Plain words match the tokens
of `tfsft.word2vec`, so --pretrained_embeddings (source side) and --pretrained_target_embeddings
can start the Embedding layers from its vectors; words with an apostrophe or hyphen do not
(word2vec strips punctuation, and here "j'ai" stays one token). Target ids: 0 padding, 1 unknown,
2 [START], 3 [END].
"""

import dataclasses
import os

import keras
import tensorflow as tf

from tfsft.config import ModelConfig
from tfsft.models import seq2seq_decoding
from tfsft.errors import UserError
from tfsft.models.encoder import ModelFamily, TextEncoder, refuse_init_checkpoint
from tfsft.models.pretrained_embeddings import embedding_matrix
from tfsft.models.seq2seq_network import ATTENTION, LstmSeq2Seq

START, END = "[START]", "[END]"
PAD_ID, UNKNOWN_ID, START_ID, END_ID = 0, 1, 2, 3
SOURCE_FEATURES = ("source_ids",)
_SOURCE_VOCABULARY, _TARGET_VOCABULARY = "source_vocabulary.txt", "target_vocabulary.txt"
_PUNCTUATION = r"""([.,!?;:¿¡«»"()])"""


def standardize(text: tf.Tensor) -> tf.Tensor:
  text = tf.strings.lower(text, encoding="utf-8")
  text = tf.strings.regex_replace(text, _PUNCTUATION, r" \1 ")
  return tf.strings.strip(tf.strings.regex_replace(text, r"[\p{Z}\s]+", " "))


@dataclasses.dataclass
class EncoderDecoder(TextEncoder):
  """A TextEncoder whose `preprocess` gives the source features and whose `backbone` is the whole
  LstmSeq2Seq; it also turns target text into decoder ids and generates translations."""
  target_vectorizer: keras.layers.TextVectorization = None
  # Read once, eagerly: generation runs inside graphs.
  target_vocabulary: tuple = dataclasses.field(default=(), repr=False)
  max_length: int = 0  # tokens kept per source and per target in training
  beam_size: int = 1
  max_decode_length: int = 0

  def preprocess(self, text):
    # Ragged, truncated, then padded to the batch's longest: an LSTM steps through every
    # position, so padding short sentences to max_length would waste most of the work.
    ids = tf.cast(self.preprocessor(text)[:, :self.max_length].to_tensor(), tf.int32)
    # At least one (padding) position: an LSTM cannot run over zero steps if every text is empty.
    return {"source_ids": tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])}

  def target_ids(self, text):
    """Target text -> (decoder input ids, decoder target ids): [START] w1 .. wn and w1 .. wn [END]."""
    ids = tf.cast(self.target_vectorizer(text)[:, :self.max_length], tf.int32)
    rows = tf.ones_like(ids[:, :1])
    full = tf.concat([rows * START_ID, ids, rows * END_ID], axis=1)
    return full[:, :-1].to_tensor(), full[:, 1:].to_tensor()

  def translate(self, features) -> tf.Tensor:
    """Source features -> translations, tf.string [batch]."""
    ids = seq2seq_decoding.generate(
        self.backbone, features["source_ids"], START_ID, END_ID, len(self.target_vocabulary),
        self.max_decode_length, self.beam_size, never_generate=(PAD_ID, UNKNOWN_ID, START_ID))
    return detokenize(ids, self.target_vocabulary)


def detokenize(ids: tf.Tensor, vocabulary) -> tf.Tensor:
  """Generated ids [batch, time] -> text: tokens before [END] joined by spaces, with no space
  before closing punctuation or after opening marks."""
  before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1), 0)
  tokens = tf.ragged.boolean_mask(tf.gather(tf.constant(vocabulary), ids),
                                  tf.logical_and(before_end, tf.not_equal(ids, PAD_ID)))
  text = tf.strings.reduce_join(tokens, axis=1, separator=" ")
  text = tf.strings.regex_replace(text, r" ([.,!?;:)»])", r"\1")
  return tf.strings.regex_replace(text, r"([¿¡(«]) ", r"\1")


def build(config: ModelConfig, train_examples: tf.data.Dataset) -> EncoderDecoder:
  source_vectorizer, target_vectorizer = _vectorizer(config, "source"), _vectorizer(config, "target")
  source_vectorizer.adapt(train_examples.map(lambda source, target: source).batch(1024))
  target_vectorizer.adapt(train_examples.map(lambda source, target: target).batch(1024))
  words = target_vectorizer.get_vocabulary(include_special_tokens=False)
  target_vectorizer.set_vocabulary([START, END] + words[:config.vocab_size - 4])
  initial = {}
  descriptions = []
  for side, path, vectorizer in (("source", config.pretrained_embeddings, source_vectorizer),
                                 ("target", config.pretrained_target_embeddings, target_vectorizer)):
    if path:
      flag = "--pretrained_embeddings" if side == "source" else "--pretrained_target_embeddings"
      initial[side], found = embedding_matrix(path, vectorizer.get_vocabulary(),
                                              config.embedding_dim, flag)
      descriptions.append(f"{side} embeddings for {found} of {vectorizer.vocabulary_size()} words "
                          f"from {path}{' (frozen)' if config.freeze_embeddings else ''}")
  return _encoder(config, source_vectorizer, target_vectorizer,
                  ", ".join(["new vocabularies from the training split"] + descriptions),
                  initial.get("source"), initial.get("target"))


def save(encoder: EncoderDecoder, directory: str):
  for vectorizer, name in ((encoder.preprocessor, _SOURCE_VOCABULARY),
                           (encoder.target_vectorizer, _TARGET_VOCABULARY)):
    with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
      handle.writelines(f"{token}\n" for token in vectorizer.get_vocabulary(include_special_tokens=False))


def restore(config: ModelConfig, directory: str) -> EncoderDecoder:
  vectorizers = []
  for side, name in (("source", _SOURCE_VOCABULARY), ("target", _TARGET_VOCABULARY)):
    vectorizer = _vectorizer(config, side)
    with open(os.path.join(directory, name), encoding="utf-8") as handle:
      vectorizer.set_vocabulary([line.rstrip("\n") for line in handle])
    vectorizers.append(vectorizer)
  return _encoder(config, *vectorizers, f"model_dir vocabularies {directory}")


def _vectorizer(config: ModelConfig, side: str):
  return keras.layers.TextVectorization(max_tokens=config.vocab_size, standardize=standardize,
                                        ragged=True, name=f"{side}_vectorization")


def _encoder(config, source_vectorizer, target_vectorizer, description, source_embeddings=None,
             target_embeddings=None) -> EncoderDecoder:
  network = LstmSeq2Seq(
      source_vectorizer.vocabulary_size(), target_vectorizer.vocabulary_size(),
      config.embedding_dim, config.lstm_units, bidirectional=config.bidirectional,
      attention=config.attention, dropout=config.dropout, source_embeddings=source_embeddings,
      target_embeddings=target_embeddings, freeze_embeddings=config.freeze_embeddings,
      name="lstm_seq2seq")
  # Create the weights now: checkpoints restore into existing variables.
  network({"source_ids": tf.ones([1, 2], tf.int32), "decoder_input_ids": tf.ones([1, 2], tf.int32)})
  sizes = f"{source_vectorizer.vocabulary_size()} source / {target_vectorizer.vocabulary_size()} target tokens"
  return EncoderDecoder(
      preprocessor=source_vectorizer, backbone=network, feature_names=SOURCE_FEATURES,
      description=f"LSTM encoder-decoder from scratch, {description} ({sizes})",
      target_vectorizer=target_vectorizer,
      target_vocabulary=tuple(str(token) for token in target_vectorizer.get_vocabulary()),
      max_length=config.max_seq_length,
      beam_size=config.beam_size, max_decode_length=config.decode_length)


def check_flags(config: ModelConfig):
  refuse_init_checkpoint(config)
  if config.attention not in ATTENTION:
    raise UserError(f"unknown --attention={config.attention}: choose from {', '.join(ATTENTION)}")


# 5e-3, not the classifier's 1e-3: on fra.txt (10 epochs, linear decay) 1e-3 stalled at validation
# perplexity 22.7 while 5e-3 reached 10.7 (docs/benchmarks.md).
FAMILY = ModelFamily(build=build, save=save, restore=restore, default_learning_rate=5e-3,
                     check_flags=check_flags,
                     kind="seq2seq")
