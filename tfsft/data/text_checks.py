"""In-graph checks on raw text that fail with an error naming the offending file.

The checks run inside tf.data (no Python per example). Their failure surfaces as a TensorFlow
`InvalidArgumentError`; `user_errors_from_data` turns it into a one-line `UserError` for the CLI.
"""

import contextlib
import re

import tensorflow as tf

from tfsft.errors import UserError

_MARKER = "tfsft-data-error: "


def checked_utf8(text: tf.Tensor, origin: tf.Tensor) -> tf.Tensor:
  """Returns `text` after asserting it is UTF-8; `origin` names the file (and line) for the error."""
  # Valid UTF-8 is a fixed point of UTF-8 -> UTF-8 transcoding; invalid bytes get replaced.
  is_utf8 = tf.equal(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), text)
  with tf.control_dependencies([tf.debugging.Assert(is_utf8, [tf.strings.join(
      [_MARKER, origin, " is not valid UTF-8: re-encode it as UTF-8 or remove it"])])]):
    return tf.identity(text)


def checked_text(text: tf.Tensor, origin: tf.Tensor) -> tf.Tensor:
  """Returns `text` after asserting it is non-blank UTF-8; `origin` names the file for the error."""
  text = checked_utf8(text, origin)
  is_blank = tf.equal(tf.strings.length(tf.strings.strip(text)), 0)
  with tf.control_dependencies([tf.debugging.Assert(tf.logical_not(is_blank), [tf.strings.join(
      [_MARKER, origin, " is empty: remove it or give it text"])])]):
    return tf.identity(text)


@contextlib.contextmanager
def user_errors_from_data():
  """Re-raises a failed `checked_text` assertion as a one-line `UserError`."""
  try:
    yield
  except tf.errors.InvalidArgumentError as error:
    match = re.search(re.escape(_MARKER) + r"(.*?)(?:\]|$)", error.message, re.MULTILINE)
    if match is None:
      raise
    raise UserError(match.group(1)) from None
