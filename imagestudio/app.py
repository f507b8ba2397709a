"""Start-up: the window by default, headless subcommands otherwise.

Kept free of heavy imports so that `imagestudio --help` and the window start fast.
"""

from __future__ import annotations

import sys

from imagestudio import cli


def main(argv: list[str] | None = None) -> int:
    """Console entry point of `imagestudio`."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        # The main window is not built yet; until it is, say what the app can do headless.
        cli.build_parser().print_help()
        print(
            "\nThe window is not part of this version yet; use a command above, for example:\n"
            '  imagestudio generate "a red circle on a blue background" --model PATH'
        )
        return cli.EXIT_OK
    return cli.main(args)
