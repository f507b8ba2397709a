"""Prompt history: one SQLite row per generation job, written once when the job ends.

The window and the CLI may have the same file open at once, so the database runs in WAL mode with
a busy timeout, and every write is one short `BEGIN IMMEDIATE` transaction. Rows are only ever
inserted when a job has finished (done, cancelled or failed): a process killed mid-job loses that
one job and nothing else, and `synchronous=FULL` makes a committed row survive a power cut too.

Prompts and negative prompts are indexed with an FTS5 external-content table kept in sync by
triggers. Some Python builds ship an SQLite without FTS5; then searching falls back to `LIKE`.

Nothing is ever silently lost: a file that is not a healthy SQLite database is renamed aside (see
`HistoryStore.recovered_from`) rather than deleted, and a database written by a newer version of
the app is refused rather than rewritten.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from imagestudio.core.errors import HistoryError
from imagestudio.core.outputs import schema
from imagestudio.core.outputs.records import (
    INSERT,
    NEWEST_FIRST,
    SELECT,
    STATUSES,
    JobRecord,
    record_from_row,
    row_from_record,
)
from imagestudio.core.paths import app_paths
from imagestudio.core.vocabulary import JobKind

__all__ = ["STATUSES", "HistoryError", "HistoryStore", "JobRecord"]


# How long a statement waits for another process (the CLI, a second window) to finish its write
# before giving up. Writes are single small rows, so waiting this long means something is stuck.
BUSY_TIMEOUT_S = 10.0

# Primary SQLite result codes (`sqlite3.Error.sqlite_errorcode & 0xFF`), spelled out so that the
# code does not depend on which constants a given Python build exports.
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26

_FOLD_FUNCTION = "imagestudio_fold"

# The first 16 bytes of every SQLite database file.
_SQLITE_HEADER = b"SQLite format 3\x00"


# --- helpers ------------------------------------------------------------------------------------


def _fold(value: object) -> object:
    """Case-fold text for case-insensitive matching of any script (SQLite's own is ASCII only)."""
    return value.casefold() if isinstance(value, str) else value


def _escape_like(text: str) -> str:
    """Make `text` match literally inside a LIKE pattern that uses ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _is_token_char(char: str) -> bool:
    # FTS5's unicode61 tokenizer keeps letters, numbers and private-use characters and treats
    # everything else (punctuation, spaces, symbols, emoji) as separators.
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


def _fts_query(text: str) -> str:
    """Turn what the user typed into an FTS5 query that cannot be a syntax error.

    Every whitespace-separated word becomes a quoted FTS string (so AND, OR, NOT, NEAR, `*`, `:`,
    `(` and quotes are plain text) with a prefix match, and the words are ANDed. Words with no
    letters or digits are dropped: FTS5 would index nothing for them, and an empty phrase matches
    no row at all, which would make "cat (" find nothing. Returns "" when no word is left.
    """
    terms = [
        '"' + word.replace('"', '""') + '"*'
        for word in text.replace("\x00", " ").split()
        if any(_is_token_char(char) for char in word)
    ]
    return " AND ".join(terms)


def _disk_nearly_full(path: Path) -> bool:
    """SQLite reports a write that found no room as an I/O error as often as "disk full"."""
    try:
        return shutil.disk_usage(path.parent).free < 4 * 2**20
    except OSError:
        return False


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


# --- the store ----------------------------------------------------------------------------------


class HistoryStore:
    """The prompt history database.

    Safe to share between threads (one connection guarded by a lock) and between processes (WAL
    and a busy timeout). Every failure the user could see is a `HistoryError`.

    `recovered_from` is None normally; when the file was damaged it is the path the damaged file
    was renamed to, and `salvaged` the number of entries that could still be read from it and
    were copied into the fresh history, so the UI can tell the user what happened.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path: Path = Path(path if path is not None else app_paths().history_file).expanduser()
        self.recovered_from: Path | None = None
        self.salvaged = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._fts = schema.fts5_available()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"Could not create the folder {self.path.parent} for the history database "
                f"({exc.strerror or exc}). Check that it can be written to."
            ) from exc
        damaged, version = self._inspect()
        if version > len(schema.MIGRATIONS):
            raise self._newer(version)  # refused before anything is written to the file
        if damaged:
            self.recovered_from = self._move_damaged_aside()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        """Connect, configure, migrate, and fill a fresh file from a damaged one moved aside."""
        conn = self._connect()
        try:
            self._configure(conn)
            self._migrate(conn)
            if self.recovered_from is not None:
                self.salvaged = self._salvage(conn, self.recovered_from)
        except sqlite3.Error as exc:
            conn.close()
            raise self._error("open the history", exc) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def recovery_note(self) -> str | None:
        """What happened to a damaged history file, as a sentence; None when nothing did."""
        if self.recovered_from is None:
            return None
        saved = (
            f"the {self.salvaged} entries that could still be read were copied into a new one"
            if self.salvaged
            else "no entry in it could be read, so a new history was started"
        )
        return f"The history file was damaged; it was kept as {self.recovered_from}, and {saved}."

    # context manager -------------------------------------------------------------------------

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # public API --------------------------------------------------------------------------------

    def record(self, job: JobRecord) -> int:
        """Insert a finished job and return its id (`job.id` is ignored: always a new entry)."""
        row = row_from_record(job)
        cursor = self._write("save the job to history", INSERT, row)
        assert cursor.lastrowid is not None  # an INSERT into a rowid table always sets it
        return int(cursor.lastrowid)

    def get(self, job_id: int) -> JobRecord:
        """Return entry `job_id`; a HistoryError says so if there is no such entry."""
        rows = self._read("read the history", f"{SELECT} WHERE jobs.id = ?", (int(job_id),))
        if not rows:
            raise HistoryError(f"No history entry #{job_id}.")
        return record_from_row(rows[0])

    def recent(
        self,
        limit: int = 50,
        offset: int = 0,
        favourites_only: bool = False,
        done_only: bool = False,
    ) -> list[JobRecord]:
        """Up to `limit` entries, most recent first, skipping the first `offset`; `done_only`
        leaves out cancelled and failed jobs."""
        conditions = _filters(favourites_only, done_only)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._read(
            "read the history",
            f"{SELECT} {where} {NEWEST_FIRST} LIMIT ? OFFSET ?",
            (max(0, int(limit)), max(0, int(offset))),
        )
        return [record_from_row(row) for row in rows]

    def search(
        self, text: str, limit: int = 50, favourites_only: bool = False, done_only: bool = False
    ) -> list[JobRecord]:
        """Entries whose prompt or negative prompt has every word of `text`, most recent first.

        Each word matches the start of a word ("cat" finds "cats"), case- and accent-insensitively.
        Any text is safe to pass: quotes, `*`, AND/OR/NOT and brackets are searched as plain words.
        Blank text (or only punctuation, which is not indexed) returns `recent()`.
        """
        if not self._fts:
            return self._search_like(text, limit, favourites_only, done_only)
        query = _fts_query(text)
        if not query:
            return self.recent(limit=limit, favourites_only=favourites_only, done_only=done_only)
        filters = "".join(f" AND {c}" for c in _filters(favourites_only, done_only))
        rows = self._read(
            "search the history",
            f"{SELECT} JOIN {schema.FTS_TABLE} ON {schema.FTS_TABLE}.rowid = jobs.id "
            f"WHERE {schema.FTS_TABLE} MATCH ?{filters} {NEWEST_FIRST} LIMIT ?",
            (query, max(0, int(limit))),
        )
        return [record_from_row(row) for row in rows]

    def set_favourite(self, job_id: int, favourite: bool = True) -> None:
        """Mark (or unmark) an entry as a favourite; a HistoryError if there is no such entry."""
        cursor = self._write(
            "update the history entry",
            "UPDATE jobs SET favourite = ? WHERE id = ?",
            (1 if favourite else 0, int(job_id)),
        )
        if cursor.rowcount == 0:
            raise HistoryError(f"No history entry #{job_id}.")

    def delete(self, job_id: int) -> None:
        """Delete an entry (its image files are left alone). Deleting a missing entry is a no-op,
        since another window may have deleted it first and the outcome is the same."""
        self._write("delete the history entry", "DELETE FROM jobs WHERE id = ?", (int(job_id),))

    def suggestions(
        self, prefix: str = "", limit: int = 10, kind: JobKind = "generate"
    ) -> list[str]:
        """Distinct non-empty prompts of `kind` jobs starting with `prefix` (any case), latest
        used first. (Other kinds' "prompt" is a description, not something to type again.)"""
        pattern = _escape_like(str(_fold(prefix))) + "%"
        rows = self._read(
            "read the history",
            f"SELECT prompt FROM jobs WHERE prompt != '' AND kind = ? "
            f"AND {_FOLD_FUNCTION}(prompt) LIKE ? ESCAPE '\\' "
            "GROUP BY prompt ORDER BY MAX(created_at) DESC, MAX(id) DESC LIMIT ?",
            (kind, pattern, max(0, int(limit))),
        )
        return [row[0] for row in rows]

    def count(self) -> int:
        """The number of entries."""
        return int(self._read("read the history", "SELECT COUNT(*) FROM jobs")[0][0])

    def close(self) -> None:
        """Close the database; safe to call twice. Later calls raise a HistoryError."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            # Lets SQLite refresh its planner statistics now and then; failure costs nothing.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA optimize")
            conn.close()

    # internals ---------------------------------------------------------------------------------

    def _search_like(
        self, text: str, limit: int = 50, favourites_only: bool = False, done_only: bool = False
    ) -> list[JobRecord]:
        """`search()` for SQLite builds without FTS5: every word must occur (any case) somewhere
        in the prompt or the negative prompt. Slower, and matches inside words too."""
        words = text.split()
        if not words:
            return self.recent(limit=limit, favourites_only=favourites_only, done_only=done_only)
        conditions: list[str] = []
        params: list[Any] = []
        for word in words:
            pattern = "%" + _escape_like(word.casefold()) + "%"
            conditions.append(
                f"({_FOLD_FUNCTION}(jobs.prompt) LIKE ? ESCAPE '\\' "
                f"OR {_FOLD_FUNCTION}(jobs.negative_prompt) LIKE ? ESCAPE '\\')"
            )
            params += [pattern, pattern]
        conditions += _filters(favourites_only, done_only)
        rows = self._read(
            "search the history",
            f"{SELECT} WHERE {' AND '.join(conditions)} {NEWEST_FIRST} LIMIT ?",
            (*params, max(0, int(limit))),
        )
        return [record_from_row(row) for row in rows]

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: no implicit transactions; every write opens its own
            # BEGIN IMMEDIATE so the write lock is taken up front and busy waits happen there.
            # check_same_thread=False: the GUI thread reads while a worker thread records; the
            # lock in this class serialises them.
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._error("open the history", exc) from exc
        conn.create_function(_FOLD_FUNCTION, 1, _fold, deterministic=True)  # type: ignore[arg-type]
        return conn

    def _inspect(self) -> tuple[bool, int]:
        """Whether the file exists but is not a healthy SQLite database, and its schema version.

        Checked before the real connection opens, and without letting SQLite write anything: a
        read-write connection to a damaged file deletes or checkpoints its WAL when it closes,
        which would change (or lose part of) what is about to be moved aside; one to a newer
        version's file would switch its journal mode before refusing it.
        """
        try:
            with self.path.open("rb") as file:
                header = file.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return False, 0
        except OSError as exc:
            raise HistoryError(
                f"Could not read the history database {self.path} ({exc.strerror or exc}). "
                "Check that the file can be read."
            ) from exc
        if not header:
            return False, 0  # an empty file is an empty database to SQLite
        if header != _SQLITE_HEADER:
            return True, 0
        try:
            conn = sqlite3.connect(
                self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S
            )
        except sqlite3.Error as exc:
            raise self._error("open the history", exc) from exc
        try:
            version = schema.user_version(conn)
            if version > len(schema.MIGRATIONS):
                return False, version
            rows = conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            if _error_code(exc) in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
                return True, 0
            # Busy, unreadable, ...: the file may be fine, so it must not be moved aside.
            raise self._error("open the history", exc) from exc
        finally:
            conn.close()
        return rows != [("ok",)], version

    def _newer(self, version: int) -> HistoryError:
        return HistoryError(
            f"The history database {self.path} was written by a newer version of ImageStudio "
            f"(schema {version}; this version knows up to {len(schema.MIGRATIONS)}). Update "
            "ImageStudio, or use a different history file."
        )

    def _salvage(self, conn: sqlite3.Connection, damaged: Path) -> int:
        """Copy every entry that can still be read from the damaged file (opened read only,
        with its journal files beside it) into the fresh database; return how many."""
        rows = schema.readable_rows(damaged)
        if not rows:
            return 0
        try:
            with schema.immediate(conn):
                conn.executemany(schema.INSERT_WITH_ID, rows)
        except (sqlite3.Error, OverflowError):
            return 0  # the fresh history stays empty; the damaged file is kept either way
        return len(rows)

    def _move_damaged_aside(self) -> Path:
        """Rename the damaged file (and its journal files) to `<name>.damaged-<time>`."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        suffixes = ("-wal", "-journal", "-shm")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        number = 1
        while any(Path(f"{target}{suffix}").exists() for suffix in ("", *suffixes)):
            number += 1
            target = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{number}")
        try:
            # Journals first: a fresh database must never pick up the damaged one's WAL, and
            # SQLite finds a journal by name. They keep their suffix so the pair can be opened
            # together for a rescue attempt.
            for suffix in suffixes:
                journal = Path(f"{self.path}{suffix}")
                if journal.exists():
                    journal.rename(f"{target}{suffix}")
            self.path.rename(target)
        except OSError as exc:
            raise HistoryError(
                f"The history database {self.path} is damaged and could not be moved aside "
                f"({exc.strerror or exc}). Move or rename it yourself, then start ImageStudio "
                "again."
            ) from exc
        return target

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # WAL lets the window read while the CLI writes; the mode is stored in the file.
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        # FULL: a committed row is on disk even after a power cut, not only after a crash.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = schema.migrate(conn, self._fts)
        if version > len(schema.MIGRATIONS):  # written by a newer version since _inspect
            raise self._newer(version)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError("The history database is closed; open it again to use it.")
        return self._conn

    def _write(self, action: str, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._repairing(lambda conn: self._write_once(conn, sql, params))
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc
            except MemoryError as exc:
                raise HistoryError(f"Could not {action}: SQLite ran out of memory.") from exc
            except OverflowError as exc:  # an int too big for SQLite's 64-bit integers
                raise HistoryError(
                    f"Could not {action}: a number in it is too large to store."
                ) from exc

    @staticmethod
    def _write_once(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        with schema.immediate(conn):
            return conn.execute(sql, params)

    def _repairing(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """`work(conn)`; when it fails on a damaged full-text index (the jobs themselves are
        healthy), the index is rebuilt from the jobs table and `work` runs once more."""
        conn = self._connection()
        try:
            return work(conn)
        except (sqlite3.DatabaseError, MemoryError) as exc:
            # A damaged index says "corrupt", or, when its garbage reads as a huge length,
            # SQLITE_NOMEM, which Python raises as MemoryError.
            damaged = isinstance(exc, MemoryError) or _error_code(exc) == _SQLITE_CORRUPT
            if not damaged or not self._fts:
                raise
            if conn.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
                raise  # the jobs are damaged too: restarting moves the file aside
            if not schema.rebuild_fts(conn):
                # The index cannot even be dropped: start a fresh file with every entry copied
                # over (the old one is kept aside, as with any damaged history).
                conn.close()
                self._conn = None
                self.recovered_from = self._move_damaged_aside()
                self._conn = conn = self._open()
            return work(conn)

    def _read(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._repairing(lambda conn: conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc
            except MemoryError as exc:
                raise HistoryError(f"Could not {action}: SQLite ran out of memory.") from exc
            except OverflowError as exc:
                raise HistoryError(f"Could not {action}: a number is too large.") from exc

    def _error(self, action: str, exc: sqlite3.Error) -> HistoryError:
        """A HistoryError whose message says what failed and what the user can do about it."""
        code = _error_code(exc)
        where = f"the history database {self.path}"
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            hint = (
                f"{where} is busy in another ImageStudio window or command. Try again in a moment."
            )
        elif code == _SQLITE_FULL:
            hint = "the disk is full. Free some space and try again."
        elif code in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN):
            hint = (
                f"{where} cannot be opened for writing. "
                "Check that the file and its folder can be written to."
            )
        elif code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            hint = f"{where} is damaged. Restart ImageStudio to move it aside and start afresh."
        elif code == _SQLITE_IOERR and _disk_nearly_full(self.path):
            hint = "the disk is full. Free some space and try again."
        elif code == _SQLITE_IOERR:
            hint = f"the disk reported an error with {where} ({exc}). Check the disk and try again."
        else:
            hint = f"{where} reported: {exc}."
        return HistoryError(f"Could not {action}: {hint}")


def _filters(favourites_only: bool, done_only: bool) -> list[str]:
    """SQL conditions (constant text, no user input) for the list filters."""
    conditions = ["jobs.favourite = 1"] if favourites_only else []
    if done_only:
        conditions.append("jobs.status = 'done'")
    return conditions
