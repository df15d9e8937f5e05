"""Embedding matrices initialised from word2vec / GloVe text files (e.g. from `tfsft.word2vec`)."""

import numpy as np
from absl import logging

from tfsft.errors import UserError
from tfsft.word_vectors.text_format import load_text


def embedding_matrix(path: str, vocabulary, dim: int, flag: str = "--pretrained_embeddings"):
  """An Embedding matrix for `vocabulary`: pretrained rows where the word has a vector, Keras'
  default uniform(-0.05, 0.05) elsewhere, zeros for padding. Returns (matrix, words found)."""
  pretrained = load_text(path)
  if pretrained.dim != dim:
    raise UserError(f"{flag}={path} holds {pretrained.dim}-dimensional vectors but "
                    f"--embedding_dim={dim}: set --embedding_dim={pretrained.dim}")
  rng = np.random.default_rng(0)
  matrix = rng.uniform(-0.05, 0.05, (len(vocabulary), pretrained.dim)).astype(np.float32)
  matrix[0] = 0.0
  index = pretrained.index()
  rows = [(row, index[word]) for row, word in enumerate(vocabulary) if word in index]
  for row, source in rows:
    matrix[row] = pretrained.vectors[source]
  logging.info("%s: %d of %d vocabulary words found in %s; the rest start random.", flag,
               len(rows), len(vocabulary), path)
  return matrix, len(rows)
