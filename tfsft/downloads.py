"""Why fetching a data set or a checkpoint failed, said in one line with the fix.

Three causes need three different fixes, and the libraries underneath (TFDS, kagglehub,
huggingface_hub) wrap them in their own exception types: a Python module that is not installed
(`pip install` it), no network (connect, or use local files), and anything else.
"""

import socket
from typing import Iterator, Optional

from tfsft.errors import UserError

# Import names whose pip package is named differently.
_PIP_NAMES = {"apache_beam": "apache-beam", "sklearn": "scikit-learn", "yaml": "pyyaml"}


def failure(what: str, error: BaseException, local_alternative: str) -> UserError:
  """A one-line UserError for `error`, raised while fetching `what` (e.g. "TFDS 'imdb_reviews'");
  `local_alternative` says how to do without the download (e.g. "pass --data_path=<...>")."""
  missing = missing_module(error)
  if missing:
    package = _PIP_NAMES.get(missing, missing)
    return UserError(f"{what} needs the Python module '{missing}', which is not installed: "
                     f"pip install {package}")
  network = next((cause for cause in causes(error) if _is_network_error(cause)), None)
  if network is not None:
    return UserError(f"could not download {what}: the network is unreachable "
                     f"({_summary(network)}); connect to the internet, or {local_alternative}")
  return UserError(f"could not load {what} ({type(error).__name__}: {_summary(error)}); "
                   f"{local_alternative}")


def missing_module(error: BaseException) -> Optional[str]:
  """The top-level name of a module that failed to import anywhere in `error`'s causes."""
  for cause in causes(error):
    if isinstance(cause, ModuleNotFoundError) and cause.name:
      return cause.name.split(".")[0]
  return None


def causes(error: BaseException) -> Iterator[BaseException]:
  """`error` and everything it wraps: chained exceptions, urllib3's `reason`, exceptions passed
  as arguments (requests wraps urllib3's errors that way)."""
  pending, seen = [error], set()
  while pending:
    current = pending.pop()
    if current is None or id(current) in seen:
      continue
    seen.add(id(current))
    yield current
    pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None),
                    *current.args])
    pending = [item for item in pending if isinstance(item, BaseException)]


def _is_network_error(error: BaseException) -> bool:
  # Every HTTP client underneath (requests/urllib3, httpx, urllib) ends in one of these.
  return isinstance(error, (socket.gaierror, ConnectionError, TimeoutError, socket.timeout))


def _summary(error: BaseException) -> str:
  lines = str(error).strip().splitlines()
  return lines[0] if lines else type(error).__name__
