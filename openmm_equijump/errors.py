"""The one base of the package's errors: every known bad input raises an ``EquiJumpError``.

The command-line tools print it as one line ``error: ...`` and exit with status 2 (``cli``); anything else is
a bug and keeps its traceback.
"""


class EquiJumpError(Exception):
    """Bad input: the message names the file, setting or residue at fault and, where there is one, the fix."""


class ConfigError(EquiJumpError, ValueError):
    """A setting that cannot be used: unknown, out of range, or a resume with other settings."""
