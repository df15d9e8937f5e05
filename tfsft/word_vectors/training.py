"""texts -> vocabulary -> tf.data examples -> Keras fit -> WordVectors."""

import dataclasses
from typing import Optional

import keras
import tensorflow as tf
from absl import logging

from tfsft.errors import UserError
from tfsft.word_vectors import examples, models
from tfsft.word_vectors.corpus import Vocabulary, build_vocabulary, encode
from tfsft.word_vectors.text_format import WordVectors

METHODS = ("skipgram", "cbow", "glove")
_SHUFFLE_BUFFER = 100_000


@dataclasses.dataclass(frozen=True)
class WordVectorConfig:
  method: str = "skipgram"
  dim: int = 100
  window: int = 5
  negatives: int = 5  # skip-gram / CBOW
  min_count: int = 5
  epochs: int = 5
  batch_size: int = 1024
  learning_rate: Optional[float] = None  # None: see default_learning_rate
  subsample: float = 1e-3  # word2vec's `sample`; 0 keeps every token
  x_max: float = 100.0  # GloVe weighting
  alpha: float = 0.75  # GloVe weighting
  seed: int = 42


# word2vec's own starting rates (its `-alpha`), per example.
WORD2VEC_ALPHA = {"skipgram": 0.025, "cbow": 0.05}


def default_learning_rate(config: WordVectorConfig) -> float:
  """word2vec's per-example rate, scaled by the batch_size * (1 + negatives) logits that Keras'
  loss averages over; GloVe's paper uses Adagrad at 0.05."""
  if config.method == "glove":
    return 0.05
  return WORD2VEC_ALPHA[config.method] * config.batch_size * (1 + config.negatives)


def check_config(config: WordVectorConfig):
  if config.method not in METHODS:
    raise UserError(f"unknown --method={config.method}: choose from {', '.join(METHODS)}")
  positive = {"dim": config.dim, "window": config.window, "min_count": config.min_count,
              "epochs": config.epochs, "batch_size": config.batch_size}
  if config.method != "glove":
    positive["negatives"] = config.negatives
  for name, value in positive.items():
    if value <= 0:
      raise UserError(f"--{name}={value} must be positive")


def train_word_vectors(texts: tf.data.Dataset, config: WordVectorConfig):
  """Returns (WordVectors, per-epoch training losses)."""
  check_config(config)
  keras.utils.set_random_seed(config.seed)
  vocabulary = build_vocabulary(texts, config.min_count)
  if len(vocabulary) < 2:
    raise UserError(f"only {len(vocabulary)} word(s) occur at least --min_count={config.min_count} "
                    "times: lower --min_count or add text")
  logging.info("Vocabulary: %d words seen at least %d times; most frequent: %s.", len(vocabulary),
               config.min_count, " ".join(vocabulary.words[:10]))
  ids = encode(texts, vocabulary).cache()
  vocabulary_size = len(vocabulary) + 1  # + the padding id
  if config.method == "glove":
    model = models.glove(vocabulary_size, config.dim)
    dataset = _glove_dataset(ids, vocabulary, config)
    optimizer = keras.optimizers.Adagrad(config.learning_rate or default_learning_rate(config))
    loss = keras.losses.MeanSquaredError()
  else:
    if config.method == "skipgram":
      model = models.skipgram(vocabulary_size, config.dim, config.negatives)
    else:
      model = models.cbow(vocabulary_size, config.dim, config.window, config.negatives)
    dataset, steps_per_epoch = _word2vec_dataset(ids, vocabulary, config)
    # Plain SGD decaying linearly to ~0, as in word2vec: Keras applies it to the embedding rows a
    # batch touches only, while Adam updates both whole tables every step (25 vs 3 ms/step here).
    peak = config.learning_rate or default_learning_rate(config)
    optimizer = keras.optimizers.SGD(keras.optimizers.schedules.PolynomialDecay(
        peak, decay_steps=steps_per_epoch * config.epochs, end_learning_rate=peak * 1e-4))
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
  model.compile(optimizer=optimizer, loss=loss, steps_per_execution=50)
  history = model.fit(dataset, epochs=config.epochs, shuffle=False, verbose=2)  # shuffled in tf.data
  vectors = model.get_layer("input_embedding").embeddings.numpy()
  if config.method == "glove":  # the paper's W + W~
    vectors = vectors + model.get_layer("output_embedding").embeddings.numpy()
  return WordVectors(vocabulary.words, vectors[1:]), history.history["loss"]


def _word2vec_dataset(ids: tf.data.Dataset, vocabulary: Vocabulary, config: WordVectorConfig):
  keep = vocabulary.keep_probabilities(config.subsample)
  negative_logits = vocabulary.negative_sampling_logits()

  def skipgram_examples(sequence):
    sequence = examples.subsample(sequence, keep, config.seed)
    target, context, _ = examples.window_pairs(sequence, config.window)
    return {"target": target, "context": context}

  def cbow_examples(sequence):
    sequence = examples.subsample(sequence, keep, config.seed)
    target, context = examples.context_windows(sequence, config.window)
    return {"target": target, "context": context}

  make = skipgram_examples if config.method == "skipgram" else cbow_examples
  # One counting pass sizes the learning-rate decay (subsampling makes it approximate).
  examples_per_epoch = int(ids.map(lambda sequence: tf.size(make(sequence)["target"]))
                           .reduce(tf.constant(0), lambda total, size: total + size))
  # Documents are shuffled, then each document's examples are re-sliced into batches: per-example
  # unbatch + shuffle ran at 445 batches/s here, rebatch at 7,400.
  dataset = (ids.shuffle(100_000, seed=config.seed, reshuffle_each_iteration=True)
             .map(make, num_parallel_calls=tf.data.AUTOTUNE)
             .rebatch(config.batch_size)
             .map(lambda batch: examples.with_negatives(batch, negative_logits, config.negatives,
                                                        config.seed),
                  num_parallel_calls=tf.data.AUTOTUNE)
             .prefetch(tf.data.AUTOTUNE))
  return dataset, max(1, examples_per_epoch // config.batch_size)


def cooccurrence_counts(ids: tf.data.Dataset, vocabulary_size: int, window: int):
  """GloVe's X_ij: co-occurrences within `window`, each weighted 1 / distance, summed over the
  corpus batch by batch. Returns (rows, columns, counts) for the non-zero entries."""
  keys, values = [], []
  pairs = ids.map(lambda sequence: examples.window_pairs(sequence, window),
                  num_parallel_calls=tf.data.AUTOTUNE).ragged_batch(256)
  for left, right, distance in pairs:
    batch_keys = left.flat_values * vocabulary_size + right.flat_values
    unique, index = tf.unique(batch_keys, out_idx=tf.int64)
    keys.append(unique)
    values.append(tf.math.unsorted_segment_sum(
        1.0 / tf.cast(distance.flat_values, tf.float32), index, tf.shape(unique, tf.int64)[0]))
  if not keys:
    raise UserError("no two words co-occur: add text or raise --window")
  unique, index = tf.unique(tf.concat(keys, 0), out_idx=tf.int64)
  counts = tf.math.unsorted_segment_sum(tf.concat(values, 0), index, tf.shape(unique, tf.int64)[0])
  return unique // vocabulary_size, unique % vocabulary_size, counts


def _glove_dataset(ids, vocabulary, config):
  rows, columns, counts = cooccurrence_counts(ids, len(vocabulary) + 1, config.window)
  logging.info("GloVe: %d non-zero co-occurrence entries.", int(tf.size(counts)))
  weights = tf.minimum(1.0, tf.pow(counts / config.x_max, config.alpha))
  return (tf.data.Dataset.from_tensor_slices(
      ({"row": rows, "column": columns}, tf.math.log(counts), weights))
          .shuffle(_SHUFFLE_BUFFER, seed=config.seed)
          .batch(config.batch_size)
          .prefetch(tf.data.AUTOTUNE))
