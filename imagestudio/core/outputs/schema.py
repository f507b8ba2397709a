"""The history database's schema: append-only migrations and the full-text index.

`migrate` brings a database to the newest schema in one transaction (nothing half-migrated);
the full-text index is not part of the numbered steps, since whether it can exist depends on the
SQLite build: `sync_fts` (re)creates it after migrating.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from imagestudio.core.outputs.records import COLUMNS, STATUSES

#: Insert a whole row, id included (salvaging a damaged history keeps the entries' numbers).
INSERT_WITH_ID = (
    f"INSERT OR IGNORE INTO jobs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
)


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
    for name in FTS_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
    rebuilt = sql.replace(" CHECK (kind IN ('generate', 'style'))", "")
    if rebuilt == sql:
        raise sqlite3.DatabaseError("unexpected jobs table definition")
    counter = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone()
    conn.execute("ALTER TABLE jobs RENAME TO jobs_v2")
    conn.execute(rebuilt)
    columns = ", ".join(COLUMNS)
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

FTS_TABLE = "jobs_fts"
FTS_TRIGGERS = {
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
def fts5_available() -> bool:
    """Whether this Python's SQLite has FTS5 (asked once, of a throwaway in-memory database)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return True


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One `BEGIN IMMEDIATE` transaction: the write lock is taken up front (busy waits happen
    here, not half-way), committed at the end, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, fts: bool) -> int:
    """Bring the schema to the newest version in one transaction; return the version found.

    A version newer than this code knows is returned untouched (the caller refuses it).
    """
    target = len(MIGRATIONS)
    version = user_version(conn)
    if version > target or (version == target and fts_in_sync(conn, fts)):
        return version  # the usual case: no need to take the write lock
    with immediate(conn):
        # Read again under the lock: another process may have migrated meanwhile.
        version = user_version(conn)
        if version > target:
            return version
        for step in MIGRATIONS[version:]:
            step(conn)
        if version != target:
            conn.execute(f"PRAGMA user_version = {target}")
        sync_fts(conn, fts)
    return version


def fts_in_sync(conn: sqlite3.Connection, fts: bool) -> bool:
    names = {
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
    }
    if fts:
        return FTS_TABLE in names and names.issuperset(FTS_TRIGGERS)
    # Without FTS5 the triggers must be gone: firing them would fail on every write.
    return names.isdisjoint(FTS_TRIGGERS)


def sync_fts(conn: sqlite3.Connection, fts: bool) -> None:
    """Create the full-text index and its triggers, or drop the triggers without FTS5.

    When the triggers were missing (a new database, or one last used by a build without FTS5,
    whose writes were not indexed), the index is rebuilt from the jobs table.
    """
    if not fts:
        for name in FTS_TRIGGERS:
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    if fts_in_sync(conn, fts):
        return
    conn.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
        "prompt, negative_prompt, content='jobs', content_rowid='id', tokenize='unicode61')"
    )
    for sql in FTS_TRIGGERS.values():
        conn.execute(sql)
    conn.execute(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')")


def rebuild_fts(conn: sqlite3.Connection) -> bool:
    """Rebuild a damaged full-text index from the jobs table (derived data: nothing is lost);
    False when the damaged index cannot even be dropped."""
    try:
        with immediate(conn):
            for name in FTS_TRIGGERS:
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            conn.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
            sync_fts(conn, True)
    except (sqlite3.Error, MemoryError):  # FTS5 may read its garbage as a huge size (NOMEM)
        return False
    return True


def readable_rows(path: Path, batch: int = 500) -> list[tuple[object, ...]]:
    """Every jobs row that can still be read from a damaged database file, in id order.

    Reads in batches by id, so a damaged page costs the rows on it and not the rest: after a
    failed batch, the next one starts past it.
    """
    rows: list[tuple[object, ...]] = []
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error:
        return rows
    columns = ", ".join(COLUMNS)
    try:
        try:
            top = conn.execute("SELECT MAX(id) FROM jobs").fetchone()[0]
        except sqlite3.Error:
            top = None
        last = 0
        failures = 0
        while failures < 1000:
            try:
                chunk = conn.execute(
                    f"SELECT {columns} FROM jobs WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
                ).fetchall()
            except sqlite3.Error:
                failures += 1
                if top is None or last >= top:
                    break
                last += batch  # skip past what cannot be read
                continue
            if not chunk:
                break
            rows.extend(chunk)
            last = int(chunk[-1][0])
    finally:
        conn.close()
    return rows
