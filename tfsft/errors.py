"""User-facing errors: one line naming the problem and the fix, a non-zero exit, no traceback."""

import sys


class UserError(Exception):
  """A problem with the user's flags, files or checkpoints (not a bug in tfsft)."""


def exit_on_user_error(main):
  """Wraps an absl `main` so a `UserError` becomes `tfsft: error: ...` on stderr and exit status 2."""

  def wrapped(argv):
    try:
      return main(argv)
    except UserError as error:
      print(f"tfsft: error: {error}", file=sys.stderr)
      sys.exit(2)

  return wrapped
