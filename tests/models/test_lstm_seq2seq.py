"""The LSTM encoder-decoder: vocabularies, teacher-forcing inputs, and generation that agrees with
the teacher-forced network step by step."""

import numpy as np
import pytest
import tensorflow as tf

from tfsft.config import ModelConfig
from tfsft.models import lstm_seq2seq, seq2seq_decoding
from tfsft.word_vectors.text_format import WordVectors, save_text

PAIRS = (["I am cold.", "Go now!", "Run!"], ["J'ai froid.", "Va maintenant\u202f!", "Cours\u202f!"])


def _build(**overrides):
  config = ModelConfig(model="lstm_seq2seq", embedding_dim=8, lstm_units=6, max_seq_length=6,
                       **overrides)
  return lstm_seq2seq.build(config, tf.data.Dataset.from_tensor_slices(PAIRS))


def test_standardize_splits_punctuation_and_unicode_spaces():
  text = lstm_seq2seq.standardize(tf.constant(["Cours\u202f! C'est «Été», non?"]))
  assert text.numpy()[0].decode() == "cours ! c'est « été » , non ?"


def test_target_ids_frame_the_target_with_start_and_end():
  encoder = _build()
  vocabulary = encoder.target_vocabulary
  assert vocabulary[:4] == ("", "[UNK]", "[START]", "[END]")
  inputs, targets = encoder.target_ids(tf.constant(["J'ai froid.", "Cours !"]))
  words = lambda ids: [vocabulary[i] for i in ids if i]
  assert words(inputs.numpy()[0]) == ["[START]", "j'ai", "froid", "."]
  assert words(targets.numpy()[0]) == ["j'ai", "froid", ".", "[END]"]
  assert words(targets.numpy()[1]) == ["cours", "!", "[END]"]
  assert targets.numpy()[1][-1] == 0  # padded to the batch's longest


def test_source_is_truncated_to_max_seq_length_and_padded_to_the_batch():
  encoder = _build()
  ids = encoder.preprocess(tf.constant(["go go go go go go go go", "run"]))["source_ids"]
  assert ids.shape == (2, 6) and ids.dtype == tf.int32
  assert ids.numpy()[1].tolist()[1:] == [0] * 5


def test_detokenize_stops_at_end_and_attaches_punctuation():
  vocabulary = ("", "[UNK]", "[START]", "[END]", "j'ai", "froid", ".", "¿", "va")
  ids = tf.constant([[4, 5, 6, 3, 8, 8], [7, 8, 3, 0, 0, 0]])
  assert lstm_seq2seq.detokenize(ids, vocabulary).numpy().tolist() == [b"j'ai froid.", b"\xc2\xbfva"]


@pytest.mark.parametrize("attention,bidirectional", [("luong", True), ("bahdanau", False)])
def test_greedy_generation_matches_the_teacher_forced_network(attention, bidirectional):
  """Feeding the greedy output back through `call` (teacher forcing) must pick the same tokens:
  step-by-step decoding and whole-sequence training compute the same function."""
  encoder = _build(attention=attention, bidirectional=bidirectional)
  network, vocabulary_size = encoder.backbone, len(encoder.target_vocabulary)
  source_ids = encoder.preprocess(tf.constant(list(PAIRS[0])))["source_ids"]
  never = (lstm_seq2seq.PAD_ID, lstm_seq2seq.UNKNOWN_ID, lstm_seq2seq.START_ID)
  generated = seq2seq_decoding.generate(network, source_ids, lstm_seq2seq.START_ID,
                                        lstm_seq2seq.END_ID, vocabulary_size, 7, 1, never).numpy()
  assert generated.shape == (3, 7)
  decoder_inputs = np.concatenate([np.full([3, 1], lstm_seq2seq.START_ID), generated[:, :-1]], 1)
  logits = network({"source_ids": source_ids, "decoder_input_ids": decoder_inputs}).numpy()
  logits[..., list(never)] = -np.inf
  for row in range(3):
    length = next((i + 1 for i, token in enumerate(generated[row]) if token == lstm_seq2seq.END_ID),
                  generated.shape[1])
    assert logits[row, :length].argmax(-1).tolist() == generated[row, :length].tolist()


def test_beam_search_returns_one_padded_sequence_per_source_in_a_graph():
  encoder = _build(beam_size=3)
  translate = tf.function(encoder.translate)
  features = encoder.preprocess(tf.constant(list(PAIRS[0])))
  translations = translate(features)
  assert translations.shape == (3,) and translations.dtype == tf.string
  # A batch of empty texts still translates (to something), rather than failing in the LSTM.
  assert translate(encoder.preprocess(tf.constant(["", ""]))).shape == (2,)
  ids = seq2seq_decoding.generate(encoder.backbone, features["source_ids"], 2, 3,
                                  len(encoder.target_vocabulary), 5, 3, (0, 1, 2))
  assert ids.shape == (3, 5)
  assert not np.isin(ids.numpy(), [1, 2]).any()


def test_pretrained_vectors_initialise_both_embedding_layers(tmp_path):
  vectors = {"source": WordVectors(["cold", "run"], np.arange(16, dtype=np.float32).reshape(2, 8)),
             "target": WordVectors(["froid", "cours"], -np.ones([2, 8], np.float32))}
  for side, word_vectors in vectors.items():
    save_text(word_vectors, str(tmp_path / f"{side}.txt"))
  encoder = _build(pretrained_embeddings=str(tmp_path / "source.txt"),
                   pretrained_target_embeddings=str(tmp_path / "target.txt"),
                   freeze_embeddings=True)
  network = encoder.backbone
  for side, layer, vectorizer in (("source", network.source_embedding, encoder.preprocessor),
                                  ("target", network.target_embedding, encoder.target_vectorizer)):
    vocabulary = list(vectorizer.get_vocabulary())
    for word, vector in zip(vectors[side].words, vectors[side].vectors):
      np.testing.assert_allclose(layer.embeddings.numpy()[vocabulary.index(word)], vector)
    assert not layer.trainable
    assert f"{side} embeddings for 2 of" in encoder.description
