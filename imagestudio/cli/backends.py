"""`imagestudio backends`: the ComfyUI servers jobs can run on (add, list, test, remove).

A token is read from an environment variable (`--token-env VAR`), never from the command line
(where `ps` and the shell's history would show it), and never printed.
"""

from __future__ import annotations

import argparse
import os

from imagestudio.cli.console import say
from imagestudio.cli.parser import EXIT_FAILED, EXIT_OK, Parser
from imagestudio.core.errors import InvalidRequest

SHOWN_NAMES = 5


def add_commands(sub: argparse._SubParsersAction) -> None:
    back = sub.add_parser(
        "backends",
        help="ComfyUI servers that jobs can run on (add, list, test, remove)",
        description="ComfyUI servers jobs can run on besides this computer: choose one with "
        "'generate --backend NAME' (or auto). Tokens are kept in the OS keyring, or in a file "
        "only you can read, never in the settings file.",
    )
    back.set_defaults(run=run, action=None)
    bsub = back.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    add = bsub.add_parser("add", help="add a server, or change its URL and token")
    add.add_argument("name", help="its name: letters, digits, '-', '_' or spaces, up to 40")
    add.add_argument("url", help="its address, http://HOST:PORT or https://...")
    add.add_argument(
        "--token-env",
        default=None,
        metavar="VAR",
        help="read the server's bearer token from this environment variable",
    )
    bsub.add_parser("list", help="the servers, their URL, whether they have a token, their state")
    test = bsub.add_parser("test", help="connect: the device, its memory and the server's models")
    test.add_argument("name")
    remove = bsub.add_parser("remove", help="forget a server and its token")
    remove.add_argument("name")


def run(args: argparse.Namespace) -> int:
    actions = {"add": _add, "list": _list, "test": _test, "remove": _remove}
    action = actions.get(args.action or "list")
    assert action is not None
    return action(args)


def _add(args: argparse.Namespace) -> int:
    from imagestudio.core.backends.registry import add_backend

    token = None
    if args.token_env is not None:
        token = os.environ.get(args.token_env)
        if token is None or not token.strip():
            raise InvalidRequest(
                f"The environment variable {args.token_env} is not set (or empty); export the "
                "token in it first."
            )
    entry, where = add_backend(args.name, args.url, token)
    kept = f"; its token is kept in {where}" if where else ""
    say(f"server {entry.name!r} at {entry.url} saved{kept}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from imagestudio.core.backends.registry import backend_states, list_backends, token_kept

    entries = list_backends()
    if not entries:
        say("no ComfyUI servers yet; add one with 'imagestudio backends add NAME URL'")
        return EXIT_OK
    states = backend_states(entries)
    width = max([len(entry.name) for entry in entries] + [4])
    url_width = max([len(entry.url) for entry in entries] + [3])
    print(f"{'name':<{width}}  {'url':<{url_width}}  token  state")
    for status in states:
        entry = status.entry
        state: str = status.state
        if state == "busy":
            state = f"busy ({status.running} running, {status.waiting} waiting)"
        token = "yes" if token_kept(entry) else "no"
        print(f"{entry.name:<{width}}  {entry.url:<{url_width}}  {token:<5}  {state}")
    return EXIT_OK


def _names(names: tuple[str, ...]) -> str:
    if not names:
        return "0"
    more = ", …" if len(names) > SHOWN_NAMES else ""
    return f"{len(names)} ({', '.join(names[:SHOWN_NAMES])}{more})"


def _test(args: argparse.Namespace) -> int:
    from imagestudio.core.backends.registry import find_backend, list_backends, test_connection
    from imagestudio.core.errors import BackendError

    entry = find_backend(list_backends(), args.name)
    if entry is None:
        raise InvalidRequest(
            f"No ComfyUI server is named {args.name!r}; see 'imagestudio backends list'."
        )
    try:
        info = test_connection(entry)
    except BackendError as exc:
        say(f"error: {exc}")
        return EXIT_FAILED
    print(f"server:      {entry.name} ({entry.url})")
    print(f"device:      {info.device_text()}")
    if info.devices:
        device = info.devices[0]
        gib = 2**30
        print(
            f"memory:      {device.vram_free / gib:.1f} GiB free of {device.vram_total / gib:.1f}"
        )
    print(f"checkpoints: {_names(info.checkpoints)}")
    print(f"loras:       {_names(info.loras)}")
    print(f"upscalers:   {_names(info.upscalers)}")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    from imagestudio.core.backends.registry import remove_backend

    entry = remove_backend(args.name)
    say(f"server {entry.name!r} removed, with its token")
    return EXIT_OK
