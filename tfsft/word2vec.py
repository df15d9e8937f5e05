"""Train word vectors (Word2Vec skip-gram / CBOW with negative sampling, or GloVe) on the text of a
tfsft task or a plain text file, and write them in the word2vec text format plus Embedding
Projector files.

  python -m tfsft.word2vec --task=imdb --data_path=aclImdb_v1.tar.gz --output=vectors/imdb.txt
  python -m tfsft.word2vec --text_file=corpus.txt --method=glove --output=vectors/glove.txt
  tensorboard --logdir vectors/imdb.txt.projector   # the Projector tab

Task text is the task's training split only (validation and test stay unseen).
"""

import os

from absl import app, flags, logging

from tfsft.errors import UserError, exit_on_user_error
from tfsft.word_vectors.training import METHODS, WordVectorConfig

_D = WordVectorConfig()
flags.DEFINE_string("task", None, "Read the training texts of this task (e.g. imdb).")
flags.DEFINE_string("data_path", None, "The task's local data (as for tfsft.train).")
flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir for the task's TFDS source.")
flags.DEFINE_string("text_file", None, "A plain text file, one document per line (instead of --task).")
flags.DEFINE_string("output", None, "Where to write the vectors (word2vec text format).")
flags.DEFINE_string("projector_dir", None, "Embedding Projector files. Default: <output>.projector")
flags.DEFINE_enum("method", _D.method, METHODS, "Training objective.")
flags.DEFINE_integer("dim", _D.dim, "Vector size.")
flags.DEFINE_integer("window", _D.window, "Words on each side that count as context.")
flags.DEFINE_integer("negatives", _D.negatives, "Negative samples per example (skipgram, cbow).")
flags.DEFINE_integer("min_count", _D.min_count, "Ignore words seen fewer times.")
flags.DEFINE_integer("epochs", _D.epochs, "Passes over the text.")
flags.DEFINE_integer("batch_size", _D.batch_size, "Examples per step.")
flags.DEFINE_float("learning_rate", None,
                   "Default: word2vec's 0.025 (skipgram) or 0.05 (cbow) per example, for SGD "
                   "decaying linearly; Adagrad 0.05 for GloVe.")
flags.DEFINE_float("subsample", _D.subsample, "Frequent-word subsampling threshold; 0: off.")
flags.DEFINE_integer("seed", _D.seed, "Seeds initialisation, sampling and shuffling.")
FLAGS = flags.FLAGS


def read_texts():
  """The training texts of --task, or the lines of --text_file, as a tf.data dataset."""
  import tensorflow as tf
  from tfsft.data.text_checks import checked_utf8
  if bool(FLAGS.task) == bool(FLAGS.text_file):
    raise UserError("pass exactly one of --task (with its data flags) or --text_file")
  if FLAGS.text_file:
    path = FLAGS.text_file
    if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
      problem = "is a folder" if tf.io.gfile.exists(path) else "does not exist"
      raise UserError(f"--text_file={path} {problem}: pass a text file, one document per line")
    # Checked in the pipeline (a corpus can be large); main turns the failure into one line.
    return tf.data.TextLineDataset(path).enumerate(start=1).map(
        lambda number, line: checked_utf8(line, tf.strings.join(
            [path, " line ", tf.strings.as_string(number)])))
  from tfsft.config import DataConfig
  from tfsft.tasks import TASKS
  data = TASKS.get(FLAGS.task)().load_data(
      DataConfig(data_path=FLAGS.data_path, tfds_data_dir=FLAGS.tfds_data_dir), seed=FLAGS.seed)
  logging.info("Text: training split of %s.", data.source)
  return data.train.map(lambda text, label: text)


def _check_writable(path):
  folder = os.path.dirname(os.path.abspath(path))
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as error:
    raise UserError(f"cannot create the folder of --output={path}: {error.strerror}") from None
  if os.path.isdir(path) or not os.access(folder, os.W_OK):
    raise UserError(f"cannot write --output={path}: pass a writable file path")


@exit_on_user_error
def main(argv):
  del argv
  from tfsft.data.text_checks import user_errors_from_data
  from tfsft.word_vectors import text_format
  from tfsft.word_vectors.training import train_word_vectors
  config = WordVectorConfig(
      method=FLAGS.method, dim=FLAGS.dim, window=FLAGS.window, negatives=FLAGS.negatives,
      min_count=FLAGS.min_count, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
      learning_rate=FLAGS.learning_rate, subsample=FLAGS.subsample, seed=FLAGS.seed)
  _check_writable(FLAGS.output)  # fail now, not after training
  with user_errors_from_data():
    vectors, losses = train_word_vectors(read_texts(), config)
  text_format.save_text(vectors, FLAGS.output)
  projector_dir = FLAGS.projector_dir or FLAGS.output + ".projector"
  text_format.save_projector(vectors, projector_dir)
  print(f"{len(vectors.words)} {vectors.dim}-dimensional vectors -> {FLAGS.output} "
        f"(projector: {projector_dir}); loss per epoch: {[round(x, 4) for x in losses]}")


if __name__ == "__main__":
  flags.mark_flag_as_required("output")
  app.run(main)
