"""One way to say that a TFDS data set could not be loaded (offline, a missing module, not
prepared, unknown name)."""

import contextlib

from absl import logging

from tfsft import downloads
from tfsft.errors import UserError


@contextlib.contextmanager
def tfds_failures_as_user_errors(name: str, local_alternative: str):
  """Re-raises any error from TFDS inside the block as a one-line UserError that names the data set,
  the cause and the ways around it; `local_alternative` describes what --data_path accepts."""
  # Offline, TFDS retries each download with back-off for about three minutes before it fails:
  # say so up front, so a quiet wait is not mistaken for a hang.
  logging.info("Loading TFDS '%s' (downloaded and prepared on first use; without a network TFDS "
               "retries for about 3 minutes before giving up).", name)
  try:
    yield
  except UserError:
    raise
  except Exception as error:  # TFDS raises many types; downloads.failure sorts them by cause
    raise downloads.failure(
        f"TFDS '{name}'", error,
        f"set --tfds_data_dir to a prepared copy, or pass --data_path=<{local_alternative}>"
    ) from None
