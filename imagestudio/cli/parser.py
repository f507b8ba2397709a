"""The command line's grammar: one parser, each command group adding its own sub-parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from imagestudio import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_MODEL = 3
EXIT_MEMORY = 4
EXIT_CANCELLED = 130

EXIT_CODES_HELP = """exit codes:
  0    success
  1    the job failed for another reason (the message says why)
  2    bad input: a value, a file or a path (the message says which)
  3    the model is missing or cannot be loaded
  4    out of memory
  130  cancelled with Ctrl+C (no file written)
"""


class UsageError(Exception):
    """Bad command-line syntax: argparse's complaint, made into one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def command(
    sub: argparse._SubParsersAction, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    """A sub-command's parser with the shared look (exit codes in --help)."""
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )


def build_parser(groups: list[Callable[[argparse._SubParsersAction], None]]) -> Parser:
    """The whole parser; `groups` add their commands (see imagestudio.cli.COMMAND_GROUPS)."""
    parser = Parser(
        prog="imagestudio",
        description="ImageStudio: turn text into images on your own machine, offline.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"ImageStudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for add in groups:
        add(sub)
    return parser
