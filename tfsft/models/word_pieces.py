"""Words -> BERT features, remembering where each word's first word-piece lands (in-graph).

Token-level tasks label words (CoNLL) or characters (SQuAD), while BERT sees WordPiece tokens. The
usual alignment (BERT paper, section 4.3) gives a word's label to its first piece and leaves the
other pieces out of loss and metrics; predictions are read back at the same first pieces. Training,
evaluation and the SavedModel all call `encode_words`, so the alignment cannot drift between them.
"""

import dataclasses
from typing import Dict

import tensorflow as tf
import tensorflow_text as tf_text

IGNORED_LABEL = -1  # pieces that carry no label: [CLS], [SEP], padding, non-first pieces
# Raw text -> words: runs of non-space characters, each punctuation mark or symbol a word of its
# own ("Paris." -> "Paris", "."), as CoNLL-2003 and SQuAD's tokenizers split text.
_SPLIT_AT = r"\s+|[\p{P}\p{S}]"
_KEEP = r"[\p{P}\p{S}]"


@dataclasses.dataclass
class EncodedWords:
  features: Dict[str, tf.Tensor]  # token_ids, padding_mask, segment_ids: int32 [batch, length]
  # Position of each word's first piece in `features`, int32 ragged [batch, words]; -1 for words
  # with no piece in the sequence (cut off by the length limit, or nothing the tokenizer keeps).
  first_piece: tf.RaggedTensor


def split_words(text: tf.Tensor):
  """string [batch] -> (words, start, end): ragged [batch, words], with byte offsets into the text
  (end exclusive)."""
  return tf_text.regex_split_with_offsets(text, _SPLIT_AT, _KEEP)


def encode_words(tokenizer, words: tf.RaggedTensor, sequence_length: int) -> EncodedWords:
  """[CLS] pieces of every word [SEP], padded to `sequence_length`; words past the limit are cut.

  `tokenizer` is a keras-hub WordPiece tokenizer (it splits punctuation and lower-cases as the
  checkpoint wants); `words` is string ragged [batch, words].
  """
  pieces_per_word = tokenizer(words.flat_values)  # ragged [all words, pieces]
  pieces = tf.RaggedTensor.from_row_splits(pieces_per_word, words.row_splits).merge_dims(1, 2)
  pieces = pieces[:, :sequence_length - 2]
  batch_size = pieces.nrows()
  token_ids = tf.concat([
      tf.fill([batch_size, 1], tf.cast(tokenizer.cls_token_id, pieces.dtype)),
      pieces,
      tf.fill([batch_size, 1], tf.cast(tokenizer.sep_token_id, pieces.dtype))], axis=1)
  lengths = token_ids.row_lengths()
  token_ids = token_ids.to_tensor(tf.cast(tokenizer.pad_token_id, pieces.dtype),
                                  shape=[None, sequence_length])
  features = {
      "token_ids": tf.cast(token_ids, tf.int32),
      "padding_mask": tf.sequence_mask(lengths, sequence_length, dtype=tf.int32),
      "segment_ids": tf.zeros_like(token_ids, tf.int32),
  }
  return EncodedWords(features, _first_piece_positions(words, pieces_per_word, sequence_length))


def _first_piece_positions(words, pieces_per_word, sequence_length):
  counts = tf.cast(pieces_per_word.row_lengths(), tf.int32)
  # Pieces before each word in its own sentence: a running total, less the sentence's start.
  running = tf.concat([[0], tf.cumsum(counts)], axis=0)
  sentence_start = tf.gather(running, words.row_starts())
  before = running[:-1] - tf.gather(sentence_start, words.value_rowids())
  position = before + 1  # after [CLS]
  kept = tf.logical_and(counts > 0, position <= sequence_length - 2)  # before [SEP]
  return words.with_flat_values(tf.where(kept, position, -1))


def piece_labels(first_piece: tf.RaggedTensor, word_labels: tf.RaggedTensor,
                 sequence_length: int) -> tf.Tensor:
  """Word labels -> int32 [batch, length] piece labels: the label at each word's first piece,
  IGNORED_LABEL everywhere else."""
  positions = first_piece.flat_values
  kept = positions >= 0
  indices = tf.stack([tf.cast(first_piece.value_rowids(), tf.int32), positions], axis=1)
  labels = tf.fill([tf.cast(first_piece.nrows(), tf.int32), sequence_length], IGNORED_LABEL)
  return tf.tensor_scatter_nd_update(labels, tf.boolean_mask(indices, kept),
                                     tf.boolean_mask(tf.cast(word_labels.flat_values, tf.int32), kept))


def word_values(piece_values: tf.Tensor, first_piece: tf.RaggedTensor, missing) -> tf.RaggedTensor:
  """Per-piece values [batch, length, ...] -> per-word ragged [batch, words, ...], read at each
  word's first piece; `missing` for words without one."""
  positions = first_piece.flat_values
  indices = tf.stack([tf.cast(first_piece.value_rowids(), tf.int32), tf.maximum(positions, 0)], 1)
  values = tf.gather_nd(piece_values, indices)
  kept = tf.reshape(positions >= 0, [-1] + [1] * (len(values.shape) - 1))
  return first_piece.with_flat_values(
      tf.where(kept, values, tf.cast(missing, values.dtype) + tf.zeros_like(values)))
