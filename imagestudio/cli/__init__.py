"""Headless command line: generate, stylize, history, models, info, bench.

Bad input ends with one line on stderr that says what is wrong and a non-zero exit code, never a
traceback. torch and diffusers are imported only by the commands that need them. Each command
group lives in its own module and adds its sub-parser here (`COMMAND_GROUPS`); each sub-parser
names the function that runs it (`set_defaults(run=...)`).
"""

from __future__ import annotations

import argparse
import logging

from imagestudio.cli import history, info, jobs, models
from imagestudio.cli.console import say
from imagestudio.cli.parser import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_MEMORY,
    EXIT_MODEL,
    EXIT_OK,
    UsageError,
    build_parser,
)
from imagestudio.core.errors import (
    HistoryError,
    ImageError,
    ImageStudioError,
    InvalidRequest,
    ModelError,
    OutOfMemory,
    StorageError,
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_MEMORY",
    "EXIT_MODEL",
    "EXIT_OK",
    "main",
    "parser",
]

COMMAND_GROUPS = (jobs.add_commands, history.add_commands, models.add_commands, info.add_commands)


def parser() -> argparse.ArgumentParser:
    return build_parser(list(COMMAND_GROUPS))


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    command_line = parser()
    try:
        args = command_line.parse_args(argv)
    except UsageError as exc:
        say(f"error: {exc}")
        return EXIT_BAD_INPUT
    if args.command is None:
        command_line.print_help()
        return EXIT_OK
    from imagestudio.core.logs import setup_logging

    setup_logging()
    try:
        return int(args.run(args))
    except (InvalidRequest, ImageError, StorageError) as exc:
        say(f"error: {exc}")
        return EXIT_BAD_INPUT
    except ModelError as exc:
        say(f"error: {exc}")
        return EXIT_MODEL
    except OutOfMemory as exc:
        say(f"error: {exc}")
        return EXIT_MEMORY
    except (HistoryError, ImageStudioError) as exc:
        say(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("cancelled; no image was written")
        return EXIT_CANCELLED
    except Exception as exc:  # a bug: one line here, the traceback in the log
        logging.getLogger("imagestudio").exception("unexpected error")
        from imagestudio.core.paths import app_paths

        say(f"error: unexpected {type(exc).__name__}: {exc} (details in {app_paths().log_file})")
        return EXIT_FAILED
