"""The word2vec text format (`<count> <dim>` header, then `word v1 ... vdim` per line), which GloVe,
gensim and fastText also read and write, and TensorBoard Embedding Projector files."""

import dataclasses
import os

import numpy as np

from tfsft.errors import UserError


@dataclasses.dataclass
class WordVectors:
  words: list
  vectors: np.ndarray  # [len(words), dim] float32

  @property
  def dim(self) -> int:
    return self.vectors.shape[1]

  def index(self) -> dict:
    return {word: i for i, word in enumerate(self.words)}


def save_text(word_vectors: WordVectors, path: str):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", encoding="utf-8") as handle:
    handle.write(f"{len(word_vectors.words)} {word_vectors.dim}\n")
    for word, vector in zip(word_vectors.words, word_vectors.vectors):
      handle.write(word + " " + " ".join(f"{value:.6f}" for value in vector) + "\n")


def load_text(path: str) -> WordVectors:
  """Reads word2vec text files, with or without the header line (GloVe's own files have none)."""
  if not os.path.isfile(path):
    problem = "is a folder" if os.path.isdir(path) else "does not exist"
    raise UserError(f"vectors file {path} {problem}: pass a word2vec or GloVe text file")
  words, rows = [], []
  with open(path, "rb") as handle:  # decoded per line, so an error can name the line
    for number, raw in enumerate(handle, 1):
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError:
        raise UserError(f"{path}:{number} is not UTF-8 text: pass a word2vec or GloVe text file "
                        "(decompress a .gz; convert binary .bin vectors to text first)") from None
      parts = line.rstrip().split(" ")
      if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
        continue  # the word2vec header
      if len(parts) < 2:
        raise UserError(f"{path}:{number} is not '<word> <numbers...>': pass a word2vec or GloVe "
                        "text file")
      try:
        rows.append(np.asarray(parts[1:], dtype=np.float32))
      except ValueError:
        raise UserError(f"{path}:{number} has a non-numeric vector value") from None
      if rows[-1].shape != rows[0].shape:
        raise UserError(f"{path}:{number} has {rows[-1].size} values, line 1 of the vectors had "
                        f"{rows[0].size}")
      words.append(parts[0])
  if not words:
    raise UserError(f"vectors file {path} holds no vectors: pass a word2vec or GloVe text file")
  return WordVectors(words, np.stack(rows))


def save_projector(word_vectors: WordVectors, log_dir: str):
  """Embedding Projector files: `tensorboard --logdir <log_dir>`, then the Projector tab."""
  import tensorflow as tf
  from tensorboard.plugins import projector
  os.makedirs(log_dir, exist_ok=True)
  with open(os.path.join(log_dir, "metadata.tsv"), "w", encoding="utf-8") as handle:
    handle.writelines(f"{word}\n" for word in word_vectors.words)
  checkpoint = tf.train.Checkpoint(embedding=tf.Variable(word_vectors.vectors))
  checkpoint.save(os.path.join(log_dir, "embedding.ckpt"))
  config = projector.ProjectorConfig()
  embedding = config.embeddings.add()
  embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
  embedding.metadata_path = "metadata.tsv"
  projector.visualize_embeddings(log_dir, config)
