"""Nearest words by cosine similarity."""

import numpy as np

from tfsft.errors import UserError
from tfsft.word_vectors.text_format import WordVectors


def nearest_neighbors(word_vectors: WordVectors, word: str, k: int = 10):
  """The k words most cosine-similar to `word` (excluding itself), as (word, similarity) pairs."""
  if k <= 0:
    raise UserError(f"--k={k} must be positive")
  index = word_vectors.index()
  if word not in index:
    raise UserError(f"'{word}' is not in the vectors' vocabulary of {len(index)} words")
  unit = word_vectors.vectors / np.maximum(
      np.linalg.norm(word_vectors.vectors, axis=1, keepdims=True), 1e-12)
  similarities = unit @ unit[index[word]]
  similarities[index[word]] = -np.inf
  best = np.argsort(-similarities)[:k]
  return [(word_vectors.words[i], float(similarities[i])) for i in best]


def cosine_similarity(word_vectors: WordVectors, first: str, second: str) -> float:
  index = word_vectors.index()
  a, b = word_vectors.vectors[index[first]], word_vectors.vectors[index[second]]
  return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
