"""tf.data input pipelines for the encoder tasks, as stages that each do one thing:

  raw (inputs, target) examples
    -> shuffle, repeat                     (training only)
    -> tokenized_rows: tokenize in chunks (the tokenizer is much faster on a batch than on one
       string), then unbatch, so that one row is one model input (a SQuAD question can give
       several windows) and rows are free to be regrouped
    -> grouped_by_length: megabatches of 50 batches sorted by length, so each batch holds rows
       of similar length (Hugging Face's `group_by_length`; training); evaluation sorts the
       whole split (length_sorted_batches) and gives outputs back in input order
    -> trimmed_to_longest: each batch cut to its longest row, rounded up to --pad_to_multiple
       (default_pad_to_multiple: 8 on GPUs and TPUs, 1 on CPUs), so compute goes to tokens
       rather than padding
    -> prefetch

Rows leave the tokenizer padded to --max_seq_length; trimming drops only positions that are
padding in every row of the batch, which the encoders mask out (BERT's padding_mask, the LSTM's
mask_zero), so a row's outputs do not depend on the batch it travels in. The causal LM tasks
shape their batches in data/token_batches.py (packing, or the same length grouping).
"""

import dataclasses
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

_SHUFFLE_BUFFER = 10_000
TOKENIZE_CHUNK = 256  # examples per tokenizer call
MEGABATCH = 50  # batches per length-sorted group, as Hugging Face's LengthGroupedSampler
# Batch widths on GPUs and TPUs: XLA compiles one program per shape, so widths come from a short
# list (--max_seq_length / 8 of them), and their matrix units want dimensions in multiples of 8.
ACCELERATOR_PAD_TO_MULTIPLE = 8
# Batches read from the training stream to measure how much of each batch is real tokens.
_FILL_SAMPLE_BATCHES = 40


def tokenized_rows(examples: tf.data.Dataset, to_model_inputs: Callable) -> tf.data.Dataset:
  """(inputs, target) examples -> (features, targets) rows, one model input each, in order."""
  return (examples.batch(TOKENIZE_CHUNK)
          .map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
          .unbatch())


def grouped_by_length(rows: tf.data.Dataset, real_tokens: Callable, batch_size: int, seed: int,
                      megabatch: int = MEGABATCH) -> tf.data.Dataset:
  """Rows -> full batches of rows of similar length, `megabatch` batches sorted at a time. Every
  row of the (endless) stream lands in exactly one batch; the order of batches within a
  megabatch is shuffled, so the steps do not sweep from long to short. A megabatch should not
  hold more rows than one pass: copies of one example would sort into the same batch."""

  def sorted_batches(features, targets):
    lengths = tf.reduce_sum(tf.cast(real_tokens(features), tf.int32), axis=1)
    order = tf.argsort(lengths, direction="DESCENDING", stable=True)
    as_batches = lambda tensor: tf.reshape(tf.gather(tensor, order),
                                           tf.concat([[megabatch, batch_size],
                                                      tf.shape(tensor)[1:]], 0))
    return tf.nest.map_structure(as_batches, (features, targets))

  return (rows.batch(batch_size * megabatch, drop_remainder=True)
          .map(sorted_batches, num_parallel_calls=tf.data.AUTOTUNE)
          .unbatch()
          .shuffle(megabatch, seed=seed))


def default_pad_to_multiple(tpu: Optional[str] = None) -> int:
  """What --pad_to_multiple is when not given: ACCELERATOR_PAD_TO_MULTIPLE where a GPU or TPU
  runs the model, 1 on CPUs. A CPU runs the same kernels at every width (no XLA: Keras turns it
  off there, and a new width costs no measurable warm-up), so rounding up only adds padding: on
  SST-2, exact widths cut padding from 21% to 5% of the positions and the steps after the first
  by 10-20% (docs/benchmarks.md, "Exact widths on CPUs"). Lists physical devices only, so a
  strategy can still be built afterwards."""
  if tpu or tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"):
    return ACCELERATOR_PAD_TO_MULTIPLE
  return 1


def trimmed_to_longest(real_tokens: Callable, pad_to_multiple: int) -> Callable:
  """A map function: a (features, targets) batch cut to its longest row (`cut_to_longest`)."""
  return lambda features, targets: cut_to_longest(real_tokens(features), (features, targets),
                                                  pad_to_multiple)


def cut_to_longest(mask: tf.Tensor, batch, pad_to_multiple: int):
  """Every tensor of `batch` (a nest) as long as `mask` (bool [rows, length], True at real
  tokens) along axis 1 -- token ids, masks, per-token labels -- cut to the longest row rounded up
  to `pad_to_multiple`; the others (class labels, answer positions) as they are. Serving
  functions use it too, so a request costs its own longest text, not --max_seq_length."""
  full_length = mask.shape[1]
  if full_length is None:  # already padded per batch by its tokenizer
    return batch
  # At least one position: an LSTM cannot run over zero steps (a batch of empty texts).
  longest = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)
  width = tf.minimum(rounded_up(longest, pad_to_multiple), full_length)
  cut = lambda tensor: (tensor[:, :width] if tensor.shape.rank >= 2
                        and tensor.shape[1] == full_length else tensor)
  return tf.nest.map_structure(cut, batch)


def rounded_up(length, multiple: int):
  """Up to the next multiple of `multiple` (a Python int or an int tensor)."""
  return (length + multiple - 1) // multiple * multiple


def training_dataset(examples: tf.data.Dataset, to_model_inputs: Callable, real_tokens: Callable,
                     batch_size: int, seed: int, rows_per_pass: int, pad_to_multiple: int,
                     group_by_length: bool = True) -> tf.data.Dataset:
  """An endless, shuffled stream of (features, targets) batches of `batch_size` rows each (static
  batch size: TPUs need it), grouped by length unless told not to, each trimmed to its longest
  row. The same seed gives the same batches."""
  shuffled = examples.shuffle(_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).repeat()
  rows = tokenized_rows(shuffled, to_model_inputs)
  # A megabatch of one batch sorts nothing across batches: rows stay in shuffled order.
  megabatch = max(1, min(MEGABATCH, rows_per_pass // batch_size)) if group_by_length else 1
  return (grouped_by_length(rows, real_tokens, batch_size, seed, megabatch)
          .map(trimmed_to_longest(real_tokens, pad_to_multiple),
               num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE))


@dataclasses.dataclass(frozen=True)
class SortedBatches:
  dataset: tf.data.Dataset  # (features, targets) batches, longest rows first
  order: np.ndarray  # order[i]: the position in the input of the dataset's i-th row


def length_sorted_batches(examples: tf.data.Dataset, to_model_inputs: Callable,
                          real_tokens: Callable, batch_size: int,
                          pad_to_multiple: int) -> SortedBatches:
  """One evaluation pass: every example tokenized once and kept in memory, rows sorted by length
  (longest first, so the widest batch is traced first) and batched, each batch cut to its
  longest row."""
  parts = list(tokenized_rows(examples, to_model_inputs).batch(4096))
  rows = tf.nest.map_structure(lambda *tensors: tf.concat(tensors, 0), *parts)
  lengths = tf.reduce_sum(tf.cast(real_tokens(rows[0]), tf.int32), axis=1).numpy()
  order = np.argsort(-lengths, kind="stable")
  in_order = tf.nest.map_structure(lambda tensor: tf.gather(tensor, order), rows)
  dataset = (tf.data.Dataset.from_tensor_slices(in_order).batch(batch_size)
             .map(trimmed_to_longest(real_tokens, pad_to_multiple),
                  num_parallel_calls=tf.data.AUTOTUNE)
             .prefetch(tf.data.AUTOTUNE))
  return SortedBatches(dataset, order)


def batch_then_tokenize(examples: tf.data.Dataset, to_model_inputs: Callable, batch_size: int,
                        seed: int = 0, training: bool = True) -> tf.data.Dataset:
  """(features, targets) batches tokenized a batch at a time, for tokenizers that already pad each
  batch to its own longest row (the LSTM encoder-decoder's). Training: endless and shuffled;
  evaluation: one pass in order, cached."""
  if training:
    examples = examples.shuffle(_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True).repeat()
  batches = examples.batch(batch_size, drop_remainder=training).map(
      to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
  return (batches if training else batches.cache()).prefetch(tf.data.AUTOTUNE)


def count_rows(examples: tf.data.Dataset, to_model_inputs: Callable) -> int:
  """Rows the tokenizer makes of one pass over `examples` (for tasks with several per example)."""
  rows = tokenized_rows(examples, to_model_inputs).map(lambda features, targets: 0)
  return int(rows.reduce(np.int64(0), lambda total, _: total + 1))


@dataclasses.dataclass(frozen=True)
class BatchFill:
  """How much of a stream's batches is real tokens, measured on a sample of its batches."""
  fill: float  # real tokens / positions computed
  real_tokens_per_batch: float


def measure_fill(batches: tf.data.Dataset, real_tokens: Callable,
                 sample_batches: int = _FILL_SAMPLE_BATCHES) -> BatchFill:
  """Reads `sample_batches` (features, targets) batches and counts real tokens and positions."""
  real = positions = count = 0
  for features, _ in batches.take(sample_batches):
    mask = real_tokens(features)
    real += int(tf.reduce_sum(tf.cast(mask, tf.int64)))
    positions += int(tf.size(mask, tf.int64))
    count += 1
  return BatchFill(real / max(1, positions), real / max(1, count))


def named_inputs(examples: tf.data.Dataset, input_names) -> Dict[str, List[str]]:
  """The raw inputs of (inputs, target) examples by input name: {"text": [...], ...}."""
  rows = [inputs for inputs, _ in examples.as_numpy_iterator()]
  columns = list(zip(*rows)) if len(input_names) > 1 else [rows]
  return {name: [value.decode("utf-8") for value in column]
          for name, column in zip(input_names, columns)}


def column_of(examples: tf.data.Dataset, index: int) -> np.ndarray:
  """One column of (text, target) examples in dataset order (0: texts; 1: labels or target texts),
  read without tokenizing."""
  batches = examples.map(lambda *row: row[index]).batch(4096).as_numpy_iterator()
  dtype = examples.element_spec[index].dtype.as_numpy_dtype
  return np.concatenate(list(batches) or [np.zeros([0], dtype)])
