import gzip

import keras
import numpy as np
import pytest
import tensorflow as tf

import tiny_assets
from tfsft.errors import UserError
from tfsft.word_vectors import examples, text_format
from tfsft.word_vectors.corpus import build_vocabulary, tokenize
from tfsft.word_vectors.similarity import cosine_similarity, nearest_neighbors
from tfsft.word_vectors.training import WordVectorConfig, cooccurrence_counts, train_word_vectors

SETTINGS = {
    "skipgram": dict(epochs=3, batch_size=256),
    "cbow": dict(epochs=3, batch_size=256),
    "glove": dict(epochs=60, batch_size=16),  # a few hundred co-occurrences: many small steps
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  path = tiny_assets.write_context_corpus(str(tmp_path_factory.mktemp("corpus") / "corpus.txt"))
  return tf.data.TextLineDataset(path)


@pytest.mark.parametrize("method", ["skipgram", "cbow", "glove"])
def test_words_sharing_contexts_end_up_closer(corpus, method):
  config = WordVectorConfig(method=method, dim=16, window=3, min_count=1, subsample=0,
                            **SETTINGS[method])
  vectors, losses = train_word_vectors(corpus, config)
  assert losses[-1] < losses[0]
  for animal in tiny_assets.ANIMALS:
    for vehicle in tiny_assets.VEHICLES:
      same = min(cosine_similarity(vectors, animal, other) for other in tiny_assets.ANIMALS
                 if other != animal)
      assert same > cosine_similarity(vectors, animal, vehicle), (animal, vehicle)


def test_tokens_match_the_lstm_vocabulary():
  texts = ["Great movie!! It's <br />the BEST, isn't it?", "co-operate; e-mail: x@y.z"]
  layer = keras.layers.TextVectorization()
  layer.adapt(texts)
  ours = {t.decode() for t in tokenize(tf.constant(texts)).flat_values.numpy()}
  assert ours == set(layer.get_vocabulary()[2:])  # minus padding and [UNK]


def test_vocabulary_counts_and_min_count():
  vocabulary = build_vocabulary(tf.data.Dataset.from_tensor_slices(["b a b", "c b a"]), min_count=2)
  assert vocabulary.words == ["b", "a"] and vocabulary.counts.tolist() == [3, 2]


def test_window_pairs_and_cooccurrence_weights():
  left, right, distance = examples.window_pairs(tf.constant([1, 2, 3], tf.int64), window=2)
  pairs = sorted(zip(left.numpy().tolist(), right.numpy().tolist(), distance.numpy().tolist()))
  assert pairs == [(1, 2, 1), (1, 3, 2), (2, 1, 1), (2, 3, 1), (3, 1, 2), (3, 2, 1)]
  ids = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[1, 2, 1]], tf.int64))
  rows, columns, counts = cooccurrence_counts(ids, vocabulary_size=3, window=2)
  table = {(int(r), int(c)): float(x) for r, c, x in zip(rows, columns, counts)}
  assert table == {(1, 2): 2.0, (2, 1): 2.0, (1, 1): 1.0}  # 1/1 + 1/1, and 1/2 both ways


def test_cbow_windows_pad_past_the_ends():
  target, context = examples.context_windows(tf.constant([5, 6, 7], tf.int64), window=1)
  assert target.numpy().tolist() == [5, 6, 7]
  assert context.numpy().tolist() == [[0, 6], [5, 7], [6, 0]]


def test_text_format_round_trip_and_neighbors(tmp_path):
  vectors = text_format.WordVectors(["a", "b", "c"], np.array([[1, 0], [0.9, 0.1], [0, 1]],
                                                                np.float32))
  path = str(tmp_path / "v.txt")
  text_format.save_text(vectors, path)
  loaded = text_format.load_text(path)
  assert loaded.words == ["a", "b", "c"]
  np.testing.assert_allclose(loaded.vectors, vectors.vectors, atol=1e-6)
  assert [w for w, _ in nearest_neighbors(loaded, "a", k=2)] == ["b", "c"]
  text_format.save_projector(loaded, str(tmp_path / "projector"))
  assert (tmp_path / "projector" / "projector_config.pbtxt").exists()


@pytest.mark.parametrize("content,message", [
    ("", "holds no vectors"), ("2 2\na 1 2\nb 1\n", "has 1 values"), ("word\n", "is not"),
    ("a 1 x\n", "non-numeric")])
def test_bad_vectors_files(tmp_path, content, message):
  path = tmp_path / "v.txt"
  path.write_text(content)
  with pytest.raises(UserError, match=message):
    text_format.load_text(str(path))


def test_binary_vectors_files_are_named_with_their_line(tmp_path):
  path = tmp_path / "vectors.txt.gz"
  path.write_bytes(gzip.compress(b"2 2\na 1 2\nb 3 4\n"))
  with pytest.raises(UserError, match=r"vectors.txt.gz:1 is not UTF-8 text: .*decompress a .gz"):
    text_format.load_text(str(path))
  with pytest.raises(UserError, match="is a folder"):
    text_format.load_text(str(tmp_path))


def test_unknown_word_and_bad_k(tmp_path):
  vectors = text_format.WordVectors(["a", "b"], np.eye(2, dtype=np.float32))
  with pytest.raises(UserError, match="not in the vectors"):
    nearest_neighbors(vectors, "zzz")
  with pytest.raises(UserError, match="must be positive"):
    nearest_neighbors(vectors, "a", k=0)
