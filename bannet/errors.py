"""Mistakes a user can fix: the command line prints them as one `bannet: …` line and exits 2, no traceback.

Each is also the built-in exception a library caller would expect (ValueError, FileNotFoundError), so code
that catches those keeps working; anything else that escapes is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the arguments, files or data, whose message names the problem and the fix."""


class InvalidInput(UserError, ValueError):
    """An argument or a setting that cannot work (a negative seed, a depth no model has, another study's folder)."""


class MissingFile(UserError, FileNotFoundError):
    """A file or data set that is not where it should be."""


class Diverged(UserError, FloatingPointError):
    """A model whose training produced non-finite values: it is not recorded; the models recorded before it are."""


class DamagedFile(UserError, ValueError):
    """A file that exists but cannot be read as what it should be (truncated, corrupted, altered)."""
