"""The one way tfsft reads TFDS (IMDb, GLUE, CoNLL-2003, SQuAD, translation pairs): build, download
and prepare, read the splits, and say which data set was read; any failure is one UserError."""

import contextlib
from typing import Dict, Optional, Sequence

from absl import logging

from tfsft import downloads
from tfsft.errors import UserError


def load(name: str, split_names: Sequence[str], local_alternative: str, data_dir: Optional[str],
         optional_splits: Sequence[str] = (), **as_dataset_options):
  """(split name -> tf.data.Dataset, the builder's DatasetInfo, a source description for the log).

  `split_names` must exist; `optional_splits` are read when the data set has them. The options
  go to `as_dataset` (as_supervised=True for (text, label) pairs). `local_alternative` describes
  what --data_path accepts instead, for the error message.
  """
  import tensorflow_datasets as tfds  # only TFDS users pay for the import
  with tfds_failures_as_user_errors(name, local_alternative):
    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare()
    # A missing required split fails in as_dataset, and that error becomes the UserError.
    wanted = list(split_names) + [split for split in optional_splits if split in builder.info.splits]
    datasets: Dict[str, object] = {
        split: builder.as_dataset(split=split, **as_dataset_options) for split in wanted}
  return datasets, builder.info, f"TFDS {name} (data_dir={data_dir or 'default'})"


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
