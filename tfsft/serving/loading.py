"""A tfsft SavedModel loaded for its signatures, with one-line errors for what users pass
(tfsft.predict, tfsft.generate, the pipelines' Evaluator)."""

import os
from typing import Optional, Sequence

from tfsft.errors import UserError


def load_signatures(saved_model_dir: str, needed: Sequence[str], instead: str,
                    named: Optional[str] = None) -> dict:
  """The signatures of the SavedModel in `saved_model_dir`, which must load and have each of
  `needed`; `instead` says what to pass when one is missing ("a causal LM's export"), and
  `named` how the error names the directory (default: --saved_model=<dir>)."""
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  registers the tokenizer ops the graphs use
  named = named or f"--saved_model={saved_model_dir}"
  if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
    raise UserError(f"{named} has no saved_model.pb: pass a version directory such as "
                    "saved_models/<task>/1")
  try:
    signatures = tf.saved_model.load(saved_model_dir).signatures
  except (OSError, IndexError, tf.errors.OpError) as error:
    # saved_model.pb does not parse (OSError), or variables/ is truncated or missing.
    raise UserError(f"{named} does not load ({str(error).strip().splitlines()[0]}): it is "
                    "damaged or incomplete; export it again with tfsft.export") from None
  missing = [name for name in needed if name not in signatures]
  if missing:
    raise UserError(f"{named} has no {missing[0]} signature: pass {instead}")
  return signatures
