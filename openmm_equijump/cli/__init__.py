"""The command lines, one module per command (``python -m openmm_equijump.<command>`` and the console scripts
``equijump-<command>``), and the one wrapper they share.

Every command parses its flags into its run config (``--config`` reads one back from YAML, flags override it),
runs, and turns bad input into one line ``error: ...`` on stderr and exit status 2: an ``EquiJumpError``, a
missing file, or a flag argparse refuses. Any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import functools
import sys
from typing import Callable, Optional, Sequence

from ..errors import EquiJumpError

#: Known bad input, printed as one line: the messages name the file, flag or setting at fault.
BAD_INPUT = (EquiJumpError, FileNotFoundError, IsADirectoryError, NotADirectoryError)
#: Exit status of a command given bad input (argparse's own).
BAD_INPUT_STATUS = 2


class UsageError(EquiJumpError):
    """A flag or flag value that argparse refuses."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` instead of printing usage and exiting, so every bad input reads
    alike (``--help`` still prints and exits 0)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def command(run: Callable[[Optional[Sequence[str]]], Optional[int]]) -> Callable[..., int]:
    """``main(argv=None) -> exit status`` around ``run(argv)``: bad input -> ``error: ...`` and status 2,
    Ctrl-C -> 130."""

    @functools.wraps(run)
    def main(argv: Optional[Sequence[str]] = None) -> int:
        try:
            return run(argv) or 0
        except BAD_INPUT as error:
            message = " ".join(str(error).split())
            print(f"error: {message}", file=sys.stderr)
            return BAD_INPUT_STATUS
        except KeyboardInterrupt:
            return 130

    return main


def add_config_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """``--config FILE``: the run config as YAML (the ``config.yaml`` a run writes beside its outputs)."""
    parser.add_argument("--config", help=f"YAML of {what} settings (as written beside a run's outputs); flags "
                                         "given on the command line override it")


def add_temperature_flag(parser: argparse.ArgumentParser, help: str, default=None) -> None:
    """``--temperature-k`` (kelvin), the one spelling across the commands; ``--temperature`` stays as a hidden
    alias."""
    parser.add_argument("--temperature-k", dest="temperature_K", type=float, default=default, help=help)
    parser.add_argument("--temperature", dest="temperature_K", type=float, help=argparse.SUPPRESS)


def given(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The flags of ``names`` that were given (not None), as config overrides."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
