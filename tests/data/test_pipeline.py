"""The encoder tasks' tf.data stages alone (tfsft/data/pipeline.py): tokenizing in chunks,
grouping by length, cutting each batch to its longest row; and tfsft.predict's length-sorted
batches coming back in input order."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfsft.serving import batch_predictions
from tfsft.data import pipeline
from tfsft.models.encoder import TextEncoder
from tfsft.tasks.base import EvaluationSplit
from tiny_backbones import VOCABULARY, tiny_bert

FULL_LENGTH = 24


def _rows(lengths, label_per_token=False):
  """(features, target) rows padded to FULL_LENGTH, as a tokenizer gives them; token id i + 1 at
  position i, and the row's index as its class label (or per token)."""
  mask = np.array([[1] * n + [0] * (FULL_LENGTH - n) for n in lengths], np.int32)
  token_ids = mask * np.arange(1, FULL_LENGTH + 1, dtype=np.int32)
  index = np.arange(len(lengths), dtype=np.int32)
  target = (mask * index[:, None] - (1 - mask)) if label_per_token else index
  features = {"token_ids": token_ids, "padding_mask": mask, "segment_ids": np.zeros_like(mask)}
  return tf.data.Dataset.from_tensor_slices((features, target))


def _real_tokens(features):
  return features["padding_mask"] > 0


def test_grouping_by_length_keeps_every_row_once_in_batches_of_similar_length():
  rng = np.random.default_rng(0)
  batch_size = 4
  lengths = rng.integers(1, FULL_LENGTH + 1, size=batch_size * pipeline.MEGABATCH * 2)
  batches = list(pipeline.grouped_by_length(_rows(lengths), _real_tokens, batch_size, seed=0)
                 .as_numpy_iterator())
  assert len(batches) == 2 * pipeline.MEGABATCH
  seen = collections.Counter(int(i) for _, target in batches for i in target)
  assert seen == collections.Counter(range(len(lengths)))
  for features, target in batches:
    assert len(target) == batch_size
    assert (features["padding_mask"].sum(axis=1) == lengths[target]).all()
  # Sorted within megabatches: a batch's rows differ far less in length than random rows do.
  spread = np.mean([np.ptp(features["padding_mask"].sum(axis=1)) for features, _ in batches])
  assert spread < 2


def test_a_megabatch_of_one_keeps_rows_in_stream_order():
  """--nogroup_by_length: batches are consecutive rows of the shuffled stream."""
  lengths = np.random.default_rng(2).integers(1, FULL_LENGTH + 1, size=40)
  batches = pipeline.grouped_by_length(_rows(lengths), _real_tokens, 4, seed=0, megabatch=1)
  members = sorted(sorted(int(i) for i in target) for _, target in batches.as_numpy_iterator())
  assert members == [list(range(start, start + 4)) for start in range(0, 40, 4)]


@pytest.mark.parametrize("pad_to_multiple,expected_widths", [(8, [16, 8]), (1, [9, 2])])
def test_each_batch_is_cut_to_its_longest_row_rounded_up_to_the_multiple(pad_to_multiple,
                                                                         expected_widths):
  lengths = [3, 9, 5, 2, 2, 1]
  trim = pipeline.trimmed_to_longest(_real_tokens, pad_to_multiple)
  widths = []
  for features, target in _rows(lengths, label_per_token=True).batch(3).map(trim):
    widths.append(features["token_ids"].shape[1])
    assert all(tensor.shape[1] == widths[-1] for tensor in features.values())
    assert target.shape[1] == widths[-1]  # per-token labels are cut with the features
    assert int(tf.reduce_sum(features["padding_mask"])) == sum(
        lengths[len(widths) * 3 - 3:len(widths) * 3])  # no real token is lost
  assert widths == expected_widths
  features, target = next(iter(_rows(lengths).batch(6).map(trim)))
  assert target.shape == [6]  # class labels pass as they are


def test_a_batch_is_never_wider_than_the_rows():
  features, _ = next(iter(_rows([FULL_LENGTH - 1, 2]).batch(2).map(
      pipeline.trimmed_to_longest(_real_tokens, 8))))
  assert features["token_ids"].shape[1] == FULL_LENGTH  # 23 rounds up to 24, not past it


def _machine_with(monkeypatch, gpus=0):
  """tf.config.list_physical_devices as on a machine with `gpus` GPUs and no TPU."""
  devices = {"CPU": ["/physical_device:CPU:0"], "GPU": [f"/physical_device:GPU:{i}"
                                                         for i in range(gpus)]}
  monkeypatch.setattr(tf.config, "list_physical_devices",
                      lambda kind=None: devices.get(kind, []))


def test_widths_are_exact_on_cpus_and_multiples_of_8_for_accelerators(monkeypatch):
  _machine_with(monkeypatch, gpus=0)
  assert pipeline.default_pad_to_multiple() == 1
  assert pipeline.default_pad_to_multiple(tpu="grpc://10.0.0.2:8470") == 8
  _machine_with(monkeypatch, gpus=1)
  assert pipeline.default_pad_to_multiple() == 8


def test_a_run_records_its_resolved_multiple_and_older_runs_read_as_8(monkeypatch):
  from tfsft import trainer
  from tfsft.config import DataConfig, TrainConfig
  _machine_with(monkeypatch, gpus=0)
  resolved = trainer.with_task_defaults(TrainConfig(task="imdb"))
  assert resolved.data.pad_to_multiple == 1
  assert trainer.with_task_defaults(TrainConfig(
      task="imdb", data=DataConfig(pad_to_multiple=16))).data.pad_to_multiple == 16
  recorded = resolved.to_dict()
  del recorded["data"]["pad_to_multiple"]  # as tfsft_run.json files written before the flag
  assert TrainConfig.from_dict(recorded).data.pad_to_multiple == 8


def test_tokenizing_in_chunks_gives_one_row_per_model_input_in_order():
  texts = tf.data.Dataset.from_tensor_slices((["a b c", "d", "e f"], [0, 1, 2]))
  split = lambda text, label: ({"words": tf.strings.split(text).to_tensor("", shape=[None, 3])},
                               label)
  rows = list(pipeline.tokenized_rows(texts, split).as_numpy_iterator())
  assert [list(features["words"]) for features, _ in rows] == [
      [b"a", b"b", b"c"], [b"d", b"", b""], [b"e", b"f", b""]]
  assert [label for _, label in rows] == [0, 1, 2]


def test_evaluation_batches_run_longest_first_and_outputs_come_back_in_input_order():
  texts = ["a b c", "d", "e f g h i j k l m", "n o", ""]
  examples = tf.data.Dataset.from_tensor_slices((texts, np.arange(len(texts))))

  def to_model_inputs(text, target):
    words = tf.strings.split(text).to_tensor("", shape=[None, FULL_LENGTH])
    return {"padding_mask": tf.cast(words != "", tf.int32)}, target

  batches = pipeline.length_sorted_batches(examples, to_model_inputs, _real_tokens, batch_size=2,
                                           pad_to_multiple=8)
  widths = [features["padding_mask"].shape[1] for features, _ in batches.dataset]
  assert widths == [16, 8, 8]  # 9 and 3 words, then 2 and 1, then the empty text
  assert batches.order.tolist() == [2, 0, 3, 1, 4]
  mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
  words = keras.Model({"padding_mask": mask},
                      keras.ops.sum(keras.ops.cast(mask, "float32"), axis=1, keepdims=True))
  split = EvaluationSplit(examples, batches.dataset, targets=np.arange(5), steps=3,
                          order=batches.order)
  assert split.predict(words)[:, 0].tolist() == [3, 1, 9, 2, 0]


def test_cut_batches_give_the_predictions_of_full_length_ones():
  """What makes cutting safe: BERT masks padding, so a row's outputs do not depend on how much
  padding its batch carries."""
  backbone = tiny_bert()
  rng = np.random.default_rng(1)
  mask = np.array([[1] * n + [0] * (FULL_LENGTH - n) for n in (5, 3, 7)], np.int32)
  features = {"token_ids": mask * rng.integers(1, VOCABULARY, mask.shape).astype(np.int32),
              "padding_mask": mask, "segment_ids": np.zeros_like(mask)}
  features = {name: tf.constant(value) for name, value in features.items()}
  cut = pipeline.cut_to_longest(tf.constant(mask) > 0, features, pad_to_multiple=8)
  assert cut["token_ids"].shape == (3, 8)
  full_output = backbone(features)
  cut_output = backbone(cut)
  np.testing.assert_allclose(cut_output["pooled_output"], full_output["pooled_output"], atol=1e-5)
  np.testing.assert_allclose(cut_output["sequence_output"],
                             full_output["sequence_output"][:, :8], atol=1e-5)


def test_the_stream_fill_counts_real_tokens_only():
  fill = pipeline.measure_fill(_rows([8, 4, 2, 2]).batch(2), _real_tokens)
  assert fill.fill == 16 / (4 * FULL_LENGTH)
  assert fill.real_tokens_per_batch == 8


def test_encoders_find_padding_from_their_own_features():
  encoder = TextEncoder(preprocessor=None, backbone=None, feature_names=("token_ids",),
                        description="LSTM-like")
  assert encoder.real_tokens({"token_ids": tf.constant([[4, 2, 0]])}).numpy().tolist() == [
      [True, True, False]]
  assert encoder.real_tokens({"token_ids": tf.constant([[4, 0, 0]]),
                              "padding_mask": tf.constant([[1, 1, 0]])}).numpy().tolist() == [
                                  [True, True, False]]


def test_predict_sends_texts_sorted_by_length_and_answers_in_input_order():
  calls = []

  def serve(text):
    calls.append([len(value) for value in text.numpy()])
    return {"length": tf.strings.length(text)}

  texts = ["a" * n for n in (3, 30, 1, 12, 7, 20, 2)]
  rows = [{"text": text} for text in texts]
  rows.insert(2, None)  # a blank line stays a blank row
  answers = list(batch_predictions._predictions(serve, ["text"], rows, batch_size=3))
  assert [row.get("length") for row in answers] == [3, 30, None, 1, 12, 7, 20, 2]
  assert answers[2] == {"text": ""}
  assert calls == [[30, 20, 12], [7, 3, 2], [1]]
