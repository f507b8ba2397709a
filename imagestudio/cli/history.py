"""`imagestudio history`: list, search and show past jobs; favourite and delete them."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from imagestudio.cli.console import say
from imagestudio.cli.parser import EXIT_OK, Parser, whole_number

if TYPE_CHECKING:
    from imagestudio.core.outputs.history import HistoryStore, JobRecord


def add_commands(sub: argparse._SubParsersAction) -> None:
    hist = sub.add_parser(
        "history",
        help="list, search and show past jobs",
        description="The prompt history, most recent first.",
    )
    hist.set_defaults(run=run, action=None)
    hsub = hist.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    listing = hsub.add_parser("list", help="recent jobs")
    listing.add_argument("--limit", type=whole_number, default=20, metavar="N")
    listing.add_argument("--favourites", action="store_true", help="favourites only")
    listing.add_argument("--all", action="store_true", help="also cancelled and failed jobs")
    search = hsub.add_parser("search", help="full-text search over prompts")
    search.add_argument("text")
    search.add_argument("--limit", type=whole_number, default=20, metavar="N")
    search.add_argument("--favourites", action="store_true", help="favourites only")
    search.add_argument("--all", action="store_true", help="also cancelled and failed jobs")
    show = hsub.add_parser("show", help="every setting of one job")
    show.add_argument("id", type=whole_number)
    favourite = hsub.add_parser("favourite", help="mark a job as a favourite (or --off)")
    favourite.add_argument("id", type=whole_number)
    favourite.add_argument("--off", action="store_true")
    delete = hsub.add_parser("delete", help="delete a job from history (its images stay)")
    delete.add_argument("id", type=whole_number)


def open_history() -> HistoryStore:
    """The history store; a damaged file moved aside is said once."""
    from imagestudio.core.outputs.history import HistoryStore

    history = HistoryStore()
    note = history.recovery_note()
    if note is not None:
        say(f"warning: {note}")
    return history


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _show(job: JobRecord) -> None:
    rows = [
        ("id", job.id),
        ("kind", job.kind),
        ("time", _when(job.created_at)),
        ("status", job.status),
        ("prompt", job.prompt),
        ("negative prompt", job.negative_prompt),
        ("model", job.model),
        ("size", f"{job.width}x{job.height}" if job.width and job.height else None),
        ("steps", job.steps),
        ("cfg", job.guidance),
        ("scheduler", job.scheduler),
        ("seed", job.seed),
        ("images", job.count),
        ("init image", job.init_image),
        ("strength", job.strength),
        ("favourite", "yes" if job.favourite else "no"),
        ("duration", f"{job.duration:.1f} s" if job.duration is not None else None),
        ("message", job.message),
    ]
    for label, value in rows:
        if value not in (None, ""):
            print(f"{label:>16}: {value}")
    for path in job.outputs:
        print(f"{'output':>16}: {path}")


def _line(job: JobRecord) -> str:
    star = "*" if job.favourite else " "
    prompt = " ".join(job.prompt.split())
    prompt = prompt if len(prompt) <= 60 else prompt[:59] + "…"
    when = _when(job.created_at)
    return f"{job.id:>5}{star} {when}  {job.status:<9} seed {job.seed!s:<10}  {prompt}"


def run(args: argparse.Namespace) -> int:
    action = args.action or "list"
    with open_history() as store:
        recovered = store.recovered_from
        code = _run(args, action, store)
        if store.recovered_from != recovered:  # repaired while running: say so
            say(f"warning: {store.recovery_note()}")
        return code


def _run(args: argparse.Namespace, action: str, store: HistoryStore) -> int:
    if action == "show":
        _show(store.get(args.id))
        return EXIT_OK
    if action == "favourite":
        store.set_favourite(args.id, not args.off)
        print(
            f"Entry {args.id} is no longer a favourite."
            if args.off
            else f"Entry {args.id} is a favourite now."
        )
        return EXIT_OK
    if action == "delete":
        store.delete(args.id)
        print(f"Entry {args.id} is not in the history any more; its picture files stay.")
        return EXIT_OK
    favourites = getattr(args, "favourites", False)
    # as the window's history: cancelled and failed jobs only when asked for
    done_only = not getattr(args, "all", False)
    limit = max(0, int(getattr(args, "limit", 20)))
    # one more than shown, to know whether there are more
    if action == "search":
        jobs = store.search(
            args.text, limit=limit + 1, favourites_only=favourites, done_only=done_only
        )
    else:
        jobs = store.recent(limit=limit + 1, favourites_only=favourites, done_only=done_only)
    if not jobs:
        print("No matching history." if action == "search" else "No history yet.")
        return EXIT_OK
    for job in jobs[:limit]:
        print(_line(job))
    if len(jobs) > limit:
        say(f"showing the newest {limit}; there are more (use --limit N to see more)")
    return EXIT_OK
