"""Whole text files read as UTF-8, with an error that names the line of a bad byte."""

from tfsft.errors import UserError


def read_utf8(path: str) -> str:
  """The file's text without a leading byte-order mark; a UserError naming the file (and the line
  of an invalid byte) when it is missing or not UTF-8."""
  try:
    with open(path, "rb") as handle:
      data = handle.read()
  except FileNotFoundError:
    raise UserError(f"{path} does not exist") from None
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as error:
    line = data.count(b"\n", 0, error.start) + 1
    raise UserError(f"{path} line {line} is not valid UTF-8 ({error.reason} at byte "
                    f"{error.start}): re-encode the file as UTF-8") from None
  return text.removeprefix("\ufeff")  # editors on Windows start UTF-8 files with a byte-order mark
