"""Stop strings, applied to generated text after detokenization.

The decoding loop stops on token ids only. A stop string ("\\n\\nUser:", "###") can start inside
a token or span several, and BPE may spell it differently depending on what precedes it, so
it is matched on the text: the loop runs to a stop id or max_new_tokens, then each text is cut
at the first occurrence of any stop string. The cut is one RE2 regex op (core TensorFlow), so it
traces into a servable string-in, string-out signature too.
"""

import re
from typing import Sequence

import tensorflow as tf


def truncate_at_stop_strings(texts: tf.Tensor, stop_strings: Sequence[str]) -> tf.Tensor:
  """Each text up to (not including) its first stop string; texts without one are unchanged.

  The stop string itself is removed, as OpenAI-style APIs do (Hugging Face's `stop_strings`
  keeps it): a chat client wants the answer, not the marker of the next turn.
  """
  if not stop_strings:
    return texts
  alternatives = "|".join(re.escape(stop) for stop in stop_strings)
  # (?s): `.` also matches newlines, so everything after the first stop string goes.
  return tf.strings.regex_replace(texts, f"(?s)(?:{alternatives}).*", "", replace_global=False)
