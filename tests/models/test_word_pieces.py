"""Word -> word-piece alignment on hand-made examples whose right answer is known."""

import keras_hub
import numpy as np
import tensorflow as tf

from tfsft.models.word_pieces import EncodedWords, encode_words, piece_labels, word_values

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "paris", "is", "nice", "new", "york",
              "##er", "."]
PAD, CLS, SEP, PARIS, IS, NICE, NEW, YORK, ER, DOT = 0, 2, 3, 5, 6, 7, 8, 9, 10, 11


def _encode(sentences, length):
  tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
  words = tf.ragged.constant(sentences)
  # In a tf.function as in tf.data and the SavedModel (eager keras-hub returns Python lists).
  as_tuple = lambda encoded: (encoded.features, encoded.first_piece)
  return EncodedWords(*tf.function(lambda w: as_tuple(encode_words(tokenizer, w, length)))(words))


def test_first_pieces_carry_the_labels_and_the_rest_are_ignored():
  encoded = _encode([["Paris", "is", "nice", "."], ["New", "Yorker", "\u200b", "is", "nice"]], 8)
  np.testing.assert_array_equal(encoded.features["token_ids"], [
      [CLS, PARIS, IS, NICE, DOT, SEP, PAD, PAD],
      [CLS, NEW, YORK, ER, IS, NICE, SEP, PAD]])
  np.testing.assert_array_equal(encoded.features["padding_mask"],
                                [[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 0]])
  # "Yorker" is two pieces; the zero-width space has none and so no position.
  assert encoded.first_piece.to_list() == [[1, 2, 3, 4], [1, 2, -1, 4, 5]]
  labels = piece_labels(encoded.first_piece, tf.ragged.constant([[1, 0, 0, 0], [2, 3, 0, 0, 0]]), 8)
  np.testing.assert_array_equal(labels, [[-1, 1, 0, 0, 0, -1, -1, -1],
                                         [-1, 2, 3, -1, 0, 0, -1, -1]])


def test_words_past_the_length_limit_are_cut():
  encoded = _encode([["New", "Yorker", "is", "nice"]], 5)  # room for 3 pieces
  np.testing.assert_array_equal(encoded.features["token_ids"], [[CLS, NEW, YORK, ER, SEP]])
  assert encoded.first_piece.to_list() == [[1, 2, -1, -1]]
  labels = piece_labels(encoded.first_piece, tf.ragged.constant([[1, 2, 0, 0]]), 5)
  np.testing.assert_array_equal(labels, [[-1, 1, 2, -1, -1]])


def test_word_values_read_the_first_piece_and_fill_the_rest():
  first_piece = tf.ragged.constant([[1, 2, -1], [3]])
  per_piece = tf.constant([[0, 10, 20, 30], [0, 11, 21, 31]])
  assert word_values(per_piece, first_piece, missing=-7).to_list() == [[10, 20, -7], [31]]
