"""Start-up: the window by default, headless subcommands otherwise.

Kept free of heavy imports so that `imagestudio --help` and the window start fast.
"""

from __future__ import annotations

import sys

from imagestudio import cli


def main(argv: list[str] | None = None) -> int:
    """Console entry point of `imagestudio`."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        return cli.main(args)
    from imagestudio.preflight import window_problem

    problem = window_problem()
    if problem is not None:
        print(f"imagestudio: {problem}", file=sys.stderr)
        return cli.EXIT_FAILED
    try:
        from imagestudio.gui.app import run
    except ImportError as exc:  # e.g. Qt's system libraries are missing
        print(
            f"imagestudio: the window cannot start: {exc}. The commands still work; see "
            "'imagestudio --help'.",
            file=sys.stderr,
        )
        return cli.EXIT_FAILED
    return run()
