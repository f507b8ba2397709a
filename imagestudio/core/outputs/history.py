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
import functools
import json
import os
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from imagestudio.core.errors import HistoryError, InvalidRequest
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import Request, request_from_dict
from imagestudio.core.vocabulary import JOB_KINDS, JOB_STATUSES, JobKind, JobStatus

STATUSES = JOB_STATUSES

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


@dataclass(frozen=True)
class JobRecord:
    """One finished job as stored in the history.

    `seed` is the seed actually used for the first image (the request may have asked for a random
    one). `request` is the whole request as a JSON-able dict, so a job can be re-run exactly.
    `created_at` of 0 means "now" when the job is recorded; `id` is set on records read back.
    """

    prompt: str
    negative_prompt: str = ""
    model: str = ""
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    seed: int | None = None
    count: int = 1
    init_image: str | None = None
    strength: float | None = None
    request: dict = field(default_factory=dict)
    status: JobStatus = "done"
    message: str = ""
    outputs: tuple[str, ...] = ()
    duration: float | None = None
    created_at: float = 0.0
    favourite: bool = False
    kind: JobKind = "generate"
    id: int | None = None

    def to_request(self) -> Request:
        """The request this entry re-runs (its kind's type); InvalidRequest if it cannot be."""
        try:
            return request_from_dict(self.request, self.kind)
        except InvalidRequest as exc:
            raise InvalidRequest(f"That history entry cannot be loaded: {exc}") from exc


# Column order shared by every SELECT and by `_record_from_row`.
_COLUMNS = (
    "id",
    "created_at",
    "prompt",
    "negative_prompt",
    "model",
    "width",
    "height",
    "steps",
    "guidance",
    "scheduler",
    "seed",
    "count",
    "init_image",
    "strength",
    "request",
    "status",
    "message",
    "outputs",
    "duration",
    "favourite",
    "kind",
)
_SELECT = "SELECT " + ", ".join(f"jobs.{name}" for name in _COLUMNS) + " FROM jobs"
_INSERT = (
    "INSERT INTO jobs ("
    + ", ".join(_COLUMNS[1:])
    + ") VALUES ("
    + ", ".join("?" for _ in _COLUMNS[1:])
    + ")"
)
_NEWEST_FIRST = "ORDER BY jobs.created_at DESC, jobs.id DESC"


# --- schema -------------------------------------------------------------------------------------


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    """The initial schema: the jobs table and the indexes behind `recent()`."""
    statuses = ", ".join(f"'{status}'" for status in STATUSES)
    # AUTOINCREMENT so a deleted entry's number is never given to a later job: "#12" in a log or
    # a bug report keeps meaning the same job.
    conn.execute(
        f"""
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            prompt TEXT NOT NULL,
            negative_prompt TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            width INTEGER,
            height INTEGER,
            steps INTEGER,
            guidance REAL,
            scheduler TEXT,
            seed INTEGER,
            count INTEGER NOT NULL DEFAULT 1,
            init_image TEXT,
            strength REAL,
            request TEXT NOT NULL DEFAULT '{{}}',
            status TEXT NOT NULL CHECK (status IN ({statuses})),
            message TEXT NOT NULL DEFAULT '',
            outputs TEXT NOT NULL DEFAULT '[]',
            duration REAL,
            favourite INTEGER NOT NULL DEFAULT 0 CHECK (favourite IN (0, 1))
        )
        """
    )
    conn.execute("CREATE INDEX jobs_by_time ON jobs (created_at DESC, id DESC)")
    conn.execute("CREATE INDEX jobs_favourites ON jobs (favourite, created_at DESC, id DESC)")


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    """Style-transfer jobs share the table; `kind` tells them from generations."""
    # As shipped in schema 2 (a CHECK of the two kinds then known); schema 3 lifts it.
    conn.execute(
        "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'generate' "
        "CHECK (kind IN ('generate', 'style'))"
    )


def _migrate_to_v3(conn: sqlite3.Connection) -> None:
    """Every new kind of job shares the table: the kind is no longer listed in a CHECK.

    SQLite cannot drop a constraint, so the table is rebuilt under its own name (ids kept, so
    the full-text index, which refers to them, stays right) and the AUTOINCREMENT counter is
    carried over, so a deleted entry's number is still never reused.
    """
    for name in _FTS_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
    rebuilt = sql.replace(" CHECK (kind IN ('generate', 'style'))", "")
    if rebuilt == sql:
        raise sqlite3.DatabaseError("unexpected jobs table definition")
    counter = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone()
    conn.execute("ALTER TABLE jobs RENAME TO jobs_v2")
    conn.execute(rebuilt)
    columns = ", ".join(_COLUMNS)
    conn.execute(f"INSERT INTO jobs ({columns}) SELECT {columns} FROM jobs_v2")
    conn.execute("DROP TABLE jobs_v2")
    if counter is not None:
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'jobs'", (counter[0],))
    conn.execute("CREATE INDEX jobs_by_time ON jobs (created_at DESC, id DESC)")
    conn.execute("CREATE INDEX jobs_favourites ON jobs (favourite, created_at DESC, id DESC)")


# Ordered: MIGRATIONS[n] takes a database from user_version n to n + 1. Append, never edit, once a
# version has shipped. The full-text index is not part of these steps: whether it can exist depends
# on the SQLite build, so `_sync_fts` (re)creates it after migrating. A migration that changes the
# indexed columns drops the FTS table and its triggers and lets `_sync_fts` rebuild them.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _migrate_to_v1,
    _migrate_to_v2,
    _migrate_to_v3,
)

_FTS_TABLE = "jobs_fts"
_FTS_TRIGGERS = {
    "jobs_fts_insert": """
        CREATE TRIGGER IF NOT EXISTS jobs_fts_insert AFTER INSERT ON jobs BEGIN
            INSERT INTO jobs_fts (rowid, prompt, negative_prompt)
            VALUES (new.id, new.prompt, new.negative_prompt);
        END
    """,
    "jobs_fts_delete": """
        CREATE TRIGGER IF NOT EXISTS jobs_fts_delete AFTER DELETE ON jobs BEGIN
            INSERT INTO jobs_fts (jobs_fts, rowid, prompt, negative_prompt)
            VALUES ('delete', old.id, old.prompt, old.negative_prompt);
        END
    """,
    # Only on changes to the indexed text, so toggling a favourite does not touch the index.
    "jobs_fts_update": """
        CREATE TRIGGER IF NOT EXISTS jobs_fts_update
        AFTER UPDATE OF prompt, negative_prompt ON jobs BEGIN
            INSERT INTO jobs_fts (jobs_fts, rowid, prompt, negative_prompt)
            VALUES ('delete', old.id, old.prompt, old.negative_prompt);
            INSERT INTO jobs_fts (rowid, prompt, negative_prompt)
            VALUES (new.id, new.prompt, new.negative_prompt);
        END
    """,
}


@functools.cache
def _fts5_available() -> bool:
    """Whether this Python's SQLite has FTS5 (asked once, of a throwaway in-memory database)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return True


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
        for word in text.split()
        if any(_is_token_char(char) for char in word)
    ]
    return " AND ".join(terms)


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _optional(kind: type, name: str, value: Any) -> Any:
    """Coerce a numeric setting (numpy scalars included) to int/float, keeping None."""
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise HistoryError(
            f"Cannot save the job to history: its {name} {value!r} is not a number."
        ) from exc


def _row_from_record(job: JobRecord) -> tuple[Any, ...]:
    """Validate a record and turn it into INSERT parameters (in `_COLUMNS[1:]` order)."""
    if job.status not in STATUSES:
        raise HistoryError(
            f"Cannot save a job with status {job.status!r} to history: the status must be one of "
            f"{', '.join(STATUSES)}."
        )
    if job.kind not in JOB_KINDS:
        raise HistoryError(
            f"Cannot save a job of kind {job.kind!r} to history: the kind must be one of "
            f"{', '.join(JOB_KINDS)}."
        )
    if not isinstance(job.prompt, str) or not isinstance(job.negative_prompt, str):
        raise HistoryError("Cannot save the job to history: its prompts must be text.")
    if not isinstance(job.request, dict):
        raise HistoryError("Cannot save the job to history: its settings must be a dictionary.")
    try:
        # default=str: a stray Path or enum in the settings should not cost the user the whole
        # history entry; the text form is still readable and re-usable.
        request = json.dumps(job.request, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        raise HistoryError(
            f"Cannot save the job to history: its settings cannot be stored ({exc})."
        ) from exc
    outputs: Any = job.outputs
    if isinstance(outputs, (str, os.PathLike)):
        outputs = (outputs,)  # one path given on its own, not a sequence of characters
    outputs_json = json.dumps([os.fspath(path) for path in outputs], ensure_ascii=False)
    return (
        float(job.created_at) if job.created_at else time.time(),
        job.prompt,
        job.negative_prompt,
        str(job.model or ""),
        _optional(int, "width", job.width),
        _optional(int, "height", job.height),
        _optional(int, "steps", job.steps),
        _optional(float, "guidance", job.guidance),
        job.scheduler,
        _optional(int, "seed", job.seed),
        _optional(int, "image count", job.count),
        None if job.init_image is None else os.fspath(job.init_image),
        _optional(float, "strength", job.strength),
        request,
        job.status,
        str(job.message or ""),
        outputs_json,
        _optional(float, "duration", job.duration),
        1 if job.favourite else 0,
        job.kind,
    )


def _load_json(text: str | None, expected: type) -> Any:
    # A row edited by hand should not make the whole history unreadable; the raw text stays in
    # the database either way.
    try:
        value = json.loads(text) if text else expected()
    except ValueError:
        return expected()
    return value if isinstance(value, expected) else expected()


def _record_from_row(row: Sequence[Any]) -> JobRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["request"] = _load_json(values["request"], dict)
    values["outputs"] = tuple(str(path) for path in _load_json(values["outputs"], list))
    values["favourite"] = bool(values["favourite"])
    values["created_at"] = float(values["created_at"])
    return JobRecord(**values)


# --- the store ----------------------------------------------------------------------------------


class HistoryStore:
    """The prompt history database.

    Safe to share between threads (one connection guarded by a lock) and between processes (WAL
    and a busy timeout). Every failure the user could see is a `HistoryError`.

    `recovered_from` is None normally; when the file was damaged it is the path the damaged file
    was renamed to, so the UI can tell the user that a fresh history was started and where the old
    one is.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path: Path = Path(path if path is not None else app_paths().history_file).expanduser()
        self.recovered_from: Path | None = None
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._fts = _fts5_available()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"Could not create the folder {self.path.parent} for the history database "
                f"({exc.strerror or exc}). Check that it can be written to."
            ) from exc
        if self._is_damaged():
            self.recovered_from = self._move_damaged_aside()
        conn = self._connect()
        try:
            self._configure(conn)
            self._migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._error("open the history", exc) from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

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
        row = _row_from_record(job)
        cursor = self._write("save the job to history", _INSERT, row)
        assert cursor.lastrowid is not None  # an INSERT into a rowid table always sets it
        return int(cursor.lastrowid)

    def get(self, job_id: int) -> JobRecord:
        """Return entry `job_id`; a HistoryError says so if there is no such entry."""
        rows = self._read("read the history", f"{_SELECT} WHERE jobs.id = ?", (int(job_id),))
        if not rows:
            raise HistoryError(f"No history entry #{job_id}.")
        return _record_from_row(rows[0])

    def recent(
        self, limit: int = 50, offset: int = 0, favourites_only: bool = False
    ) -> list[JobRecord]:
        """Up to `limit` entries, most recent first, skipping the first `offset`."""
        where = "WHERE jobs.favourite = 1" if favourites_only else ""
        rows = self._read(
            "read the history",
            f"{_SELECT} {where} {_NEWEST_FIRST} LIMIT ? OFFSET ?",
            (max(0, int(limit)), max(0, int(offset))),
        )
        return [_record_from_row(row) for row in rows]

    def search(self, text: str, limit: int = 50, favourites_only: bool = False) -> list[JobRecord]:
        """Entries whose prompt or negative prompt has every word of `text`, most recent first.

        Each word matches the start of a word ("cat" finds "cats"), case- and accent-insensitively.
        Any text is safe to pass: quotes, `*`, AND/OR/NOT and brackets are searched as plain words.
        Blank text (or only punctuation, which is not indexed) returns `recent()`.
        """
        if not self._fts:
            return self._search_like(text, limit, favourites_only)
        query = _fts_query(text)
        if not query:
            return self.recent(limit=limit, favourites_only=favourites_only)
        favourites = "AND jobs.favourite = 1" if favourites_only else ""
        rows = self._read(
            "search the history",
            f"{_SELECT} JOIN {_FTS_TABLE} ON {_FTS_TABLE}.rowid = jobs.id "
            f"WHERE {_FTS_TABLE} MATCH ? {favourites} {_NEWEST_FIRST} LIMIT ?",
            (query, max(0, int(limit))),
        )
        return [_record_from_row(row) for row in rows]

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
        self, text: str, limit: int = 50, favourites_only: bool = False
    ) -> list[JobRecord]:
        """`search()` for SQLite builds without FTS5: every word must occur (any case) somewhere
        in the prompt or the negative prompt. Slower, and matches inside words too."""
        words = text.split()
        if not words:
            return self.recent(limit=limit, favourites_only=favourites_only)
        conditions: list[str] = []
        params: list[Any] = []
        for word in words:
            pattern = "%" + _escape_like(word.casefold()) + "%"
            conditions.append(
                f"({_FOLD_FUNCTION}(jobs.prompt) LIKE ? ESCAPE '\\' "
                f"OR {_FOLD_FUNCTION}(jobs.negative_prompt) LIKE ? ESCAPE '\\')"
            )
            params += [pattern, pattern]
        if favourites_only:
            conditions.append("jobs.favourite = 1")
        rows = self._read(
            "search the history",
            f"{_SELECT} WHERE {' AND '.join(conditions)} {_NEWEST_FIRST} LIMIT ?",
            (*params, max(0, int(limit))),
        )
        return [_record_from_row(row) for row in rows]

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

    def _is_damaged(self) -> bool:
        """Whether the file exists but is not a healthy SQLite database.

        Checked before the real connection opens, and without letting SQLite write anything: a
        read-write connection to a damaged file deletes or checkpoints its WAL when it closes,
        which would change (or lose part of) what is about to be moved aside.
        """
        try:
            with self.path.open("rb") as file:
                header = file.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise HistoryError(
                f"Could not read the history database {self.path} ({exc.strerror or exc}). "
                "Check that the file can be read."
            ) from exc
        if not header:
            return False  # an empty file is an empty database to SQLite
        if header != _SQLITE_HEADER:
            return True
        try:
            conn = sqlite3.connect(
                self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S
            )
        except sqlite3.Error as exc:
            raise self._error("open the history", exc) from exc
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            if _error_code(exc) in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
                return True
            # Busy, unreadable, ...: the file may be fine, so it must not be moved aside.
            raise self._error("open the history", exc) from exc
        finally:
            conn.close()
        return rows != [("ok",)]

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
        """Bring the schema to the newest version in one transaction (nothing half-migrated)."""
        target = len(MIGRATIONS)
        version = self._user_version(conn)
        if version == target and self._fts_in_sync(conn):
            return  # the usual case: no need to take the write lock
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the lock: another process may have migrated meanwhile.
            version = self._user_version(conn)
            for step in MIGRATIONS[version:]:
                step(conn)
            if version != target:
                conn.execute(f"PRAGMA user_version = {target}")
            self._sync_fts(conn)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            raise

    def _user_version(self, conn: sqlite3.Connection) -> int:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise HistoryError(
                f"The history database {self.path} was written by a newer version of ImageStudio "
                f"(schema {version}; this version knows up to {len(MIGRATIONS)}). Update "
                "ImageStudio, or use a different history file."
            )
        return version

    def _fts_in_sync(self, conn: sqlite3.Connection) -> bool:
        names = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
            )
        }
        if self._fts:
            return _FTS_TABLE in names and names.issuperset(_FTS_TRIGGERS)
        # Without FTS5 the triggers must be gone: firing them would fail on every write.
        return names.isdisjoint(_FTS_TRIGGERS)

    def _sync_fts(self, conn: sqlite3.Connection) -> None:
        """Create the full-text index and its triggers, or drop the triggers without FTS5.

        When the triggers were missing (a new database, or one last used by a build without FTS5,
        whose writes were not indexed), the index is rebuilt from the jobs table.
        """
        if not self._fts:
            for name in _FTS_TRIGGERS:
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            return
        if self._fts_in_sync(conn):
            return
        conn.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {_FTS_TABLE} USING fts5("
            "prompt, negative_prompt, content='jobs', content_rowid='id', tokenize='unicode61')"
        )
        for sql in _FTS_TRIGGERS.values():
            conn.execute(sql)
        conn.execute(f"INSERT INTO {_FTS_TABLE} ({_FTS_TABLE}) VALUES ('rebuild')")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError("The history database is closed; open it again to use it.")
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            raise

    def _write(self, action: str, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        with self._lock:
            try:
                with self._transaction() as conn:
                    return conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc
            except OverflowError as exc:  # an int too big for SQLite's 64-bit integers
                raise HistoryError(
                    f"Could not {action}: a number in it is too large to store."
                ) from exc

    def _read(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc
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
        elif code == _SQLITE_IOERR:
            hint = f"the disk reported an error with {where} ({exc}). Check the disk and try again."
        else:
            hint = f"{where} reported: {exc}."
        return HistoryError(f"Could not {action}: {hint}")
