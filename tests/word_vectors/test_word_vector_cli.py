"""tfsft.word2vec -> tfsft.neighbors -> tfsft.train --pretrained_embeddings, via the CLI."""

import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_ok, run_cli
from tfsft.model_dir import load_trained_model
from tfsft.word_vectors.text_format import load_text


@pytest.fixture(scope="module")
def imdb_vectors(tiny_imdb, tmp_path_factory):
  output = tmp_path_factory.mktemp("vectors") / "imdb.txt"
  process = assert_ok(run_cli("tfsft.word2vec", "--task=imdb", f"--data_path={tiny_imdb}",
                              f"--output={output}", "--dim=8", "--min_count=2", "--epochs=2"))
  assert "vectors ->" in process.stdout
  return str(output)


def test_word2vec_on_a_task_writes_vectors_and_projector_files(imdb_vectors):
  vectors = load_text(imdb_vectors)
  assert vectors.dim == 8 and {"great", "awful", "movie"} <= set(vectors.words)
  assert tf.io.gfile.exists(imdb_vectors + ".projector/projector_config.pbtxt")
  process = assert_ok(run_cli("tfsft.neighbors", f"--vectors={imdb_vectors}", "--word=great",
                              "--k=3"))
  assert re.match(r"great: (\S+ -?\d\.\d{3}, ){2}\S+ -?\d\.\d{3}$", process.stdout.strip())


def test_pretrained_embeddings_reach_the_lstm(imdb_vectors, tiny_imdb, tmp_path):
  model_dir = tmp_path / "model"
  process = assert_ok(run_cli(
      "tfsft.train", "--task=imdb", "--model=lstm", f"--data_path={tiny_imdb}",
      f"--model_dir={model_dir}", "--noexport", "--batch_size=16", "--train_steps=3",
      f"--pretrained_embeddings={imdb_vectors}", "--freeze_embeddings", "--embedding_dim=8",
      "--lstm_units=4"))
  found = int(re.search(r"--pretrained_embeddings: (\d+) of \d+ vocabulary words found",
                        process.stderr).group(1))
  assert found > 20
  trained = load_trained_model(str(model_dir))
  encoder, model = trained.encoder, trained.model
  embedding = model.get_layer(encoder.backbone.name).get_layer("token_embedding").embeddings.numpy()
  vectors = load_text(imdb_vectors)
  for row, word in enumerate(encoder.preprocessor.get_vocabulary()):
    if word in vectors.index():
      np.testing.assert_allclose(embedding[row], vectors.vectors[vectors.index()[word]], atol=1e-6)


@pytest.mark.parametrize("module,flags,message", [
    ("tfsft.word2vec", ["--text_file=/no/such.txt", "--output=/tmp/x.txt"], "does not exist"),
    ("tfsft.word2vec", ["--output=/tmp/x.txt"], "exactly one of --task"),
    ("tfsft.word2vec", ["--text_file=VECTORS", "--output=/proc/x/vectors.txt"],
     "cannot create the folder"),
    ("tfsft.word2vec", ["--text_file=LATIN1", "--output=/tmp/x.txt"],
     "latin1.txt line 2 is not valid UTF-8"),
    ("tfsft.neighbors", ["--vectors=EMPTY", "--word=great"], "holds no vectors"),
    ("tfsft.train", ["--task=imdb", "--model=lstm", "--pretrained_embeddings=EMPTY"],
     "holds no vectors"),
    ("tfsft.train", ["--task=imdb", "--model=lstm", "--pretrained_embeddings=VECTORS",
                     "--embedding_dim=16"], "set --embedding_dim=8"),
])
def test_word_vector_errors(module, flags, message, imdb_vectors, tiny_imdb, tmp_path):
  empty = tmp_path / "empty.txt"
  empty.write_text("")
  latin1 = tmp_path / "latin1.txt"
  latin1.write_bytes("a fine film\ncaf\u00e9 cr\u00e8me\n".encode("latin-1"))
  flags = [f.replace("EMPTY", str(empty)).replace("VECTORS", imdb_vectors)
           .replace("LATIN1", str(latin1)) for f in flags]
  if module == "tfsft.train":
    flags += [f"--data_path={tiny_imdb}", f"--model_dir={tmp_path / 'model'}"]
  process = run_cli(module, *flags)
  assert process.returncode != 0 and "Traceback" not in process.stderr
  assert message in process.stderr
  assert not (tmp_path / "model").exists()
