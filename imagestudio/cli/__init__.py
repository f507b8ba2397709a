"""Headless command line: generate, stylize, history, models, pnginfo, info, bench.

Bad input ends with one line on stderr that says what is wrong and a non-zero exit code, never a
traceback. torch and diffusers are imported only by the commands that need them. Each command
group lives in its own module and adds its sub-parser here (`COMMAND_GROUPS`); each sub-parser
names the function that runs it (`set_defaults(run=...)`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from imagestudio.cli import backends, history, info, jobs, models, paint, pictures
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
from imagestudio.core.logs import details_hint

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

COMMAND_GROUPS = (
    jobs.add_commands,
    paint.add_commands,
    history.add_commands,
    models.add_commands,
    pictures.add_commands,
    info.add_commands,
    backends.add_commands,
)


def parser() -> argparse.ArgumentParser:
    return build_parser(list(COMMAND_GROUPS))


def _check_arguments_are_text(args: argparse.Namespace) -> None:
    """Refuse, in words, arguments whose bytes are not UTF-8 (Python hands them over with lone
    surrogates, which no file, history row or terminal line can hold)."""
    from imagestudio.core.requests import is_valid_text

    for key, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and not is_valid_text(item):
                names = {"prompt": "prompt", "text": "search text"}
                what = names.get(key, f"--{key.replace('_', '-')}")
                shown = item.encode("utf-8", "surrogateescape")[:60]
                raise InvalidRequest(
                    f"The {what} argument is not valid UTF-8 ({shown!r}); ImageStudio keeps "
                    "every text and path as UTF-8. Rename the file or type the text again."
                )


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
        _check_arguments_are_text(args)
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
    except BrokenPipeError:
        # The reader went away (`imagestudio history list | head`): not an error of ours. Python
        # would complain again when it flushes stdout at exit, so stdout points nowhere now.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug: one line here, the traceback in the log
        logging.getLogger("imagestudio").exception("unexpected error")
        say(f"error: unexpected {type(exc).__name__}: {exc} ({details_hint()})")
        return EXIT_FAILED
