"""One way to say that a TFDS data set could not be loaded (offline, not prepared, unknown name)."""

import contextlib

from tfsft.errors import UserError


@contextlib.contextmanager
def tfds_failures_as_user_errors(name: str, local_alternative: str):
  """Re-raises any error from TFDS inside the block as a one-line UserError that names the data set
  and the ways around it; `local_alternative` describes what --data_path accepts."""
  try:
    yield
  except Exception as error:  # TFDS raises many types; all mean "not available here"
    raise UserError(
        f"could not load TFDS '{name}' ({type(error).__name__}: {str(error).splitlines()[0]}); "
        "connect to the internet, set --tfds_data_dir to a prepared copy, or pass "
        f"--data_path=<{local_alternative}>") from None
