"""Nearest words by cosine similarity in a word2vec / GloVe text file.

  python -m tfsft.neighbors --vectors=vectors/imdb.txt --word=excellent --k=10

As a function: tfsft.word_vectors.similarity.nearest_neighbors(load_text(path), "excellent", k=10).
"""

from absl import app, flags

from tfsft.errors import exit_on_user_error
from tfsft.word_vectors.similarity import nearest_neighbors
from tfsft.word_vectors.text_format import load_text

flags.DEFINE_string("vectors", None, "A word2vec or GloVe text file.")
flags.DEFINE_multi_string("word", None, "Query word (repeatable).")
flags.DEFINE_integer("k", 10, "How many neighbours.")
FLAGS = flags.FLAGS


@exit_on_user_error
def main(argv):
  del argv
  vectors = load_text(FLAGS.vectors)
  for word in FLAGS.word:
    neighbours = nearest_neighbors(vectors, word, FLAGS.k)
    print(f"{word}: " + ", ".join(f"{other} {similarity:.3f}" for other, similarity in neighbours))


if __name__ == "__main__":
  flags.mark_flags_as_required(["vectors", "word"])
  app.run(main)
