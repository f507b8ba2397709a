"""Tests for the SQLite prompt history (imagestudio.core.outputs.history)."""

from __future__ import annotations

import os
import queue
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from imagestudio.core.errors import HistoryError
from imagestudio.core.outputs import schema
from imagestudio.core.outputs.history import STATUSES, HistoryStore, JobRecord

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


@pytest.fixture
def store(db_path: Path):
    with HistoryStore(db_path) as opened:
        yield opened


def add(store: HistoryStore, prompt: str, at: float, **fields) -> int:
    return store.record(JobRecord(prompt=prompt, created_at=at, **fields))


def prompts(records: list[JobRecord]) -> list[str]:
    return [record.prompt for record in records]


# --- round trip -------------------------------------------------------------------------------


def test_record_and_get_round_trip_every_field(store: HistoryStore) -> None:
    job = JobRecord(
        prompt="a lighthouse at dusk, oil painting",
        negative_prompt="blurry, low quality",
        model="starter",
        width=512,
        height=768,
        steps=25,
        guidance=6.5,
        scheduler="euler_a",
        seed=4_294_967_295,
        count=3,
        init_image="/pictures/sketch.png",
        strength=0.45,
        request={"prompt": "a lighthouse", "nested": {"list": [1, 2.5, None, "é"]}, "ok": True},
        status="failed",
        message="The device ran out of memory.",
        outputs=("/out/1.png", "/out/2.png"),
        duration=12.25,
        created_at=1_700_000_000.5,
        favourite=True,
    )
    job_id = store.record(job)
    assert isinstance(job_id, int)

    back = store.get(job_id)
    assert back.id == job_id
    for name in JobRecord.__dataclass_fields__:
        if name != "id":
            assert getattr(back, name) == getattr(job, name), name
    assert isinstance(back.outputs, tuple)
    assert isinstance(back.favourite, bool)


def test_defaults_round_trip_and_created_at_defaults_to_now(store: HistoryStore) -> None:
    before = time.time()
    job_id = store.record(JobRecord(prompt="minimal"))
    back = store.get(job_id)
    assert before - 1 <= back.created_at <= time.time() + 1
    assert back == JobRecord(prompt="minimal", created_at=back.created_at, id=job_id)


def test_record_always_creates_a_new_entry(store: HistoryStore) -> None:
    first = store.record(JobRecord(prompt="one"))
    second = store.record(store.get(first))  # a record read back still carries its id
    assert second != first
    assert store.count() == 2


def test_numpy_like_numbers_and_path_outputs_are_stored(store: HistoryStore) -> None:
    class FakeNumpyInt:
        def __int__(self) -> int:
            return 42

        def __index__(self) -> int:
            return 42

    job_id = store.record(
        JobRecord(
            prompt="p",
            seed=FakeNumpyInt(),  # type: ignore[arg-type]
            outputs=(Path("/out/a.png"),),  # type: ignore[arg-type]
            request={"init": Path("/x/y.png")},
        )
    )
    back = store.get(job_id)
    assert back.seed == 42
    assert back.outputs == (str(Path("/out/a.png")),)
    assert back.request == {"init": str(Path("/x/y.png"))}


@pytest.mark.parametrize("status", STATUSES)
def test_every_known_status_is_accepted(store: HistoryStore, status: str) -> None:
    assert store.get(store.record(JobRecord(prompt="p", status=status))).status == status


@pytest.mark.parametrize("status", ["", "DONE", "running", "error"])
def test_unknown_status_is_rejected(store: HistoryStore, status: str) -> None:
    with pytest.raises(HistoryError, match="status"):
        store.record(JobRecord(prompt="p", status=status))
    assert store.count() == 0


def test_unstorable_values_are_history_errors(store: HistoryStore) -> None:
    with pytest.raises(HistoryError):
        store.record(JobRecord(prompt="p", steps="many"))  # type: ignore[arg-type]
    with pytest.raises(HistoryError):
        store.record(JobRecord(prompt="p", seed=2**80))
    circular: dict = {}
    circular["self"] = circular
    with pytest.raises(HistoryError):
        store.record(JobRecord(prompt="p", request=circular))
    assert store.count() == 0


def test_get_missing_entry(store: HistoryStore) -> None:
    with pytest.raises(HistoryError, match=r"^No history entry #12\.$"):
        store.get(12)


# --- listing ------------------------------------------------------------------------------------


def test_recent_is_newest_first_with_limit_and_offset(store: HistoryStore) -> None:
    add(store, "b", 200.0)
    add(store, "a", 100.0)
    add(store, "d", 400.0)
    add(store, "c", 300.0)
    assert prompts(store.recent()) == ["d", "c", "b", "a"]
    assert prompts(store.recent(limit=2)) == ["d", "c"]
    assert prompts(store.recent(limit=2, offset=2)) == ["b", "a"]
    assert prompts(store.recent(limit=10, offset=3)) == ["a"]
    assert store.recent(offset=4) == []
    assert store.recent(limit=0) == []


def test_recent_breaks_time_ties_by_id(store: HistoryStore) -> None:
    ids = [add(store, f"same {i}", 500.0) for i in range(3)]
    assert [record.id for record in store.recent()] == ids[::-1]


def test_favourites(store: HistoryStore) -> None:
    first = add(store, "first", 1.0)
    second = add(store, "second", 2.0, favourite=True)
    third = add(store, "third", 3.0)
    assert prompts(store.recent(favourites_only=True)) == ["second"]

    store.set_favourite(first)
    store.set_favourite(second, False)
    assert prompts(store.recent(favourites_only=True)) == ["first"]
    assert store.get(first).favourite is True
    assert store.get(second).favourite is False
    assert store.get(third).favourite is False

    with pytest.raises(HistoryError, match="#999"):
        store.set_favourite(999)


def test_delete_and_count(store: HistoryStore) -> None:
    keep = add(store, "keep", 1.0)
    gone = add(store, "gone", 2.0)
    assert store.count() == 2
    store.delete(gone)
    assert store.count() == 1
    assert prompts(store.recent()) == ["keep"]
    with pytest.raises(HistoryError):
        store.get(gone)
    store.delete(gone)  # already gone: nothing to do, no error
    assert store.get(keep).prompt == "keep"
    # ids are never reused, so an old "#2" cannot come to mean another job
    assert add(store, "new", 3.0) > gone


# --- search -------------------------------------------------------------------------------------


@pytest.fixture
def searchable(store: HistoryStore) -> HistoryStore:
    add(store, "a red fox in the snow", 1.0, negative_prompt="blurry")
    add(store, "a cat's toy on a table", 2.0)
    add(store, "cats and dogs or birds (sketch)", 3.0, favourite=True)
    add(store, "portrait of a dog", 4.0, negative_prompt="extra fingers, watermark")
    add(store, "café 東京の夜, neon", 5.0)
    add(store, 'quote "this" 100% real_name', 6.0)
    return store


def test_fts5_is_used_in_this_build(searchable: HistoryStore) -> None:
    assert schema.fts5_available()
    assert searchable._fts
    # prefix matching, not substring matching: only FTS behaves like this ("og" is inside "dog")
    assert searchable.search("og") == []
    assert searchable._search_like("og") != []


def test_search_words_prefix_and_and(searchable: HistoryStore) -> None:
    assert prompts(searchable.search("fox")) == ["a red fox in the snow"]
    assert prompts(searchable.search("FOX Snow")) == ["a red fox in the snow"]
    # prefix: "ca" finds cat, cats and café; newest first
    assert prompts(searchable.search("ca")) == [
        "café 東京の夜, neon",
        "cats and dogs or birds (sketch)",
        "a cat's toy on a table",
    ]
    assert prompts(searchable.search("dog")) == [
        "portrait of a dog",
        "cats and dogs or birds (sketch)",
    ]
    # AND: every word must match
    assert prompts(searchable.search("dog portrait")) == ["portrait of a dog"]
    assert searchable.search("fox dog") == []
    assert searchable.search("zebra") == []


def test_search_negative_prompt(searchable: HistoryStore) -> None:
    assert prompts(searchable.search("watermark")) == ["portrait of a dog"]
    assert prompts(searchable.search("blur")) == ["a red fox in the snow"]
    # words may come from either field
    assert prompts(searchable.search("fox blurry")) == ["a red fox in the snow"]


def test_search_limit_and_favourites(searchable: HistoryStore) -> None:
    assert prompts(searchable.search("a", limit=1)) == ["portrait of a dog"]
    assert prompts(searchable.search("dog", favourites_only=True)) == [
        "cats and dogs or birds (sketch)"
    ]


def test_blank_search_is_recent(searchable: HistoryStore) -> None:
    assert searchable.search("") == searchable.recent()
    assert searchable.search("   \t\n") == searchable.recent()
    assert searchable.search("", limit=2, favourites_only=True) == searchable.recent(
        limit=2, favourites_only=True
    )


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '""',
        "AND OR (",
        "*",
        "cat's",
        "NOT",
        "NEAR(a b)",
        "prompt:fox",
        "negative_prompt : fox",
        "^fox",
        "-fox",
        "+fox",
        '"unbalanced',
        ")))",
        "{prompt}: x",
        "%",
        "_",
        "\\",
        "'; DROP TABLE jobs; --",
        "fox*",
        "🐱",
        "a AND",
        "OR",
    ],
)
def test_tricky_search_text_never_errors(searchable: HistoryStore, text: str) -> None:
    results = searchable.search(text)
    assert isinstance(results, list)
    assert searchable.count() == 6


def test_tricky_search_text_finds_the_right_rows(searchable: HistoryStore) -> None:
    assert prompts(searchable.search("cat's")) == ["a cat's toy on a table"]
    # AND/OR are searched as words, not operators; the bracket is ignored
    assert prompts(searchable.search("AND OR (")) == ["cats and dogs or birds (sketch)"]
    assert prompts(searchable.search("(sketch)")) == ["cats and dogs or birds (sketch)"]
    assert prompts(searchable.search('"this"')) == ['quote "this" 100% real_name']
    assert prompts(searchable.search("prompt:fox")) == []  # no column filter: the word prompt
    assert prompts(searchable.search("fox*")) == ["a red fox in the snow"]
    # punctuation-only text has nothing to search for: same as blank
    assert searchable.search('"') == searchable.recent()
    assert searchable.search("*") == searchable.recent()
    # punctuation next to a real word does not stop the word from matching
    assert prompts(searchable.search("fox (")) == ["a red fox in the snow"]


def test_search_unicode(searchable: HistoryStore) -> None:
    expected = ["café 東京の夜, neon"]
    assert prompts(searchable.search("café")) == expected
    assert prompts(searchable.search("CAFÉ")) == expected
    assert prompts(searchable.search("cafe")) == expected  # accents are ignored
    assert prompts(searchable.search("東京")) == expected
    assert prompts(searchable.search("東京 neon")) == expected


def test_delete_removes_from_search(searchable: HistoryStore) -> None:
    (fox,) = searchable.search("fox")
    searchable.delete(fox.id)
    assert searchable.search("fox") == []
    assert searchable.search("blurry") == []
    rows = searchable._conn.execute("SELECT count(*) FROM jobs_fts WHERE jobs_fts MATCH 'fox'")
    assert rows.fetchone()[0] == 0


def test_update_trigger_keeps_index_in_sync(searchable: HistoryStore, db_path: Path) -> None:
    (fox,) = searchable.search("fox")
    # No public API edits prompts, but another (newer) process might: the trigger must follow.
    with sqlite3.connect(db_path) as other:
        other.execute("UPDATE jobs SET prompt = 'a grey wolf' WHERE id = ?", (fox.id,))
    other.close()
    assert searchable.search("fox") == []
    assert [r.id for r in searchable.search("wolf")] == [fox.id]
    searchable.set_favourite(fox.id)  # not an indexed column; search still right
    assert [r.id for r in searchable.search("wolf", favourites_only=True)] == [fox.id]


# --- LIKE fallback ------------------------------------------------------------------------------


def test_like_fallback_search(searchable: HistoryStore) -> None:
    like = searchable._search_like
    assert prompts(like("fox")) == ["a red fox in the snow"]
    assert prompts(like("FOX snow")) == ["a red fox in the snow"]
    assert prompts(like("watermark")) == ["portrait of a dog"]
    assert prompts(like("fox blurry")) == ["a red fox in the snow"]
    assert like("fox dog") == []
    assert prompts(like("CAFÉ")) == ["café 東京の夜, neon"]
    assert prompts(like("東京")) == ["café 東京の夜, neon"]
    assert prompts(like("cat's")) == ["a cat's toy on a table"]
    assert prompts(like("dog", favourites_only=True)) == ["cats and dogs or birds (sketch)"]
    assert prompts(like("a", limit=1)) == ['quote "this" 100% real_name']  # substring
    assert like("") == searchable.recent()
    # LIKE wildcards typed by the user are plain characters
    assert prompts(like("%")) == ['quote "this" 100% real_name']
    assert prompts(like("r_a")) == []  # as a wildcard, _ would match "rea" in "real"
    assert prompts(like("real_name")) == ['quote "this" 100% real_name']
    assert prompts(like('"')) == ['quote "this" 100% real_name']
    for text in ["\\", "AND OR (", "*", "'; DROP TABLE jobs; --"]:
        like(text)
    assert searchable.count() == 6


def test_store_without_fts5(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HistoryStore(db_path) as store:
        add(store, "indexed fox", 1.0)

    # Open as a build without FTS5 would: the triggers must go (they would fail every write),
    # and search must use LIKE.
    monkeypatch.setattr(schema, "fts5_available", lambda: False)
    with HistoryStore(db_path) as store:
        assert not store._fts
        triggers = store._conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
        ).fetchone()[0]
        assert triggers == 0
        add(store, "unindexed wolf", 2.0)
        assert prompts(store.search("olf")) == ["unindexed wolf"]  # substring: LIKE
        assert prompts(store.search("fox")) == ["indexed fox"]

    # Back on an FTS5 build, the index is rebuilt so the row written meanwhile is found.
    monkeypatch.undo()
    with HistoryStore(db_path) as store:
        assert store._fts
        assert prompts(store.search("wolf")) == ["unindexed wolf"]
        assert prompts(store.search("fox")) == ["indexed fox"]
        assert store.search("olf") == []


# --- suggestions --------------------------------------------------------------------------------


def test_suggestions(store: HistoryStore) -> None:
    add(store, "A castle", 1.0)
    add(store, "a cat", 2.0)
    add(store, "dog", 3.0)
    add(store, "a castle", 4.0)
    add(store, "A castle", 5.0)  # used again: moves to the front, listed once
    add(store, "", 6.0)
    add(store, "100% cat", 7.0)
    add(store, "100x cat", 8.0)

    assert store.suggestions() == ["100x cat", "100% cat", "A castle", "a castle", "dog", "a cat"]
    assert store.suggestions("a ca") == ["A castle", "a castle", "a cat"]
    assert store.suggestions("A CAST") == ["A castle", "a castle"]
    assert store.suggestions("a ca", limit=1) == ["A castle"]
    assert store.suggestions("100%") == ["100% cat"]  # % is literal, not a wildcard
    assert store.suggestions("_") == []
    assert store.suggestions("castle") == []  # prefix, not substring
    assert store.suggestions("zzz") == []


def test_suggestions_unicode_case(store: HistoryStore) -> None:
    add(store, "Éclair au chocolat", 1.0)
    add(store, "ÉCLAT de lumière", 2.0)
    assert store.suggestions("écla") == ["ÉCLAT de lumière", "Éclair au chocolat"]
    assert store.suggestions("éclai") == ["Éclair au chocolat"]


# --- files, processes, threads ------------------------------------------------------------------


def test_persistence_across_reopen(db_path: Path) -> None:
    with HistoryStore(db_path) as store:
        job_id = add(store, "persisted", 1.0, favourite=True, outputs=("/o.png",))
    with HistoryStore(db_path) as store:
        assert store.count() == 1
        assert store.get(job_id).outputs == ("/o.png",)
        assert prompts(store.search("persist", favourites_only=True)) == ["persisted"]


def test_pragmas(store: HistoryStore, db_path: Path) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)


def test_default_path_follows_imagestudio_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTUDIO_HOME", str(tmp_path / "home"))
    with HistoryStore() as store:
        store.record(JobRecord(prompt="p"))
        assert store.path == tmp_path / "home" / "data" / "history.sqlite3"
    assert (tmp_path / "home" / "data" / "history.sqlite3").is_file()


def test_closed_store(db_path: Path) -> None:
    store = HistoryStore(db_path)
    store.close()
    store.close()  # twice is fine
    with pytest.raises(HistoryError, match="closed"):
        store.count()
    with pytest.raises(HistoryError, match="closed"):
        store.record(JobRecord(prompt="p"))


def test_two_stores_share_one_file(db_path: Path) -> None:
    with HistoryStore(db_path) as window, HistoryStore(db_path) as cli:
        job_id = cli.record(JobRecord(prompt="from the cli"))
        assert window.get(job_id).prompt == "from the cli"
        assert prompts(window.search("cli")) == ["from the cli"]
        window.delete(job_id)
        assert cli.count() == 0


def test_threads_share_one_store(store: HistoryStore) -> None:
    ids: list[int] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                ids.append(store.record(JobRecord(prompt=f"thread {n} job {i}")))
                store.recent(limit=5)
                store.search("thread")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(ids)) == 100
    assert store.count() == 100


# --- schema versions ----------------------------------------------------------------------------


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_migrates_an_empty_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"")
    with HistoryStore(db_path) as store:
        assert store.recovered_from is None
        assert store.count() == 0
        job_id = store.record(JobRecord(prompt="first"))
        assert store.get(job_id).prompt == "first"
    assert user_version(db_path) == len(schema.MIGRATIONS)
    assert damaged_copies(db_path) == []


def test_refuses_a_newer_schema(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()

    with pytest.raises(HistoryError, match="newer version of ImageStudio"):
        HistoryStore(db_path)
    # left exactly as it was: not migrated, not moved aside
    assert user_version(db_path) == 999
    assert sorted(p.name for p in db_path.parent.iterdir() if ".damaged" in p.name) == []


def test_migrations_run_forward_in_order(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HistoryStore(db_path) as store:
        job_id = add(store, "kept", 1.0)

    def to_v2(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE tags (job_id INTEGER REFERENCES jobs(id), tag TEXT)")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, to_v2))
    with HistoryStore(db_path) as store:
        assert store.get(job_id).prompt == "kept"
        store._conn.execute("INSERT INTO tags VALUES (?, 'x')", (job_id,))
    assert user_version(db_path) == len(schema.MIGRATIONS)  # still patched: the shipped ones + 1


def test_failed_migration_changes_nothing(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HistoryStore(db_path) as store:
        add(store, "kept", 1.0)

    def broken_v2(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("THIS IS NOT SQL")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken_v2))
    with pytest.raises(HistoryError):
        HistoryStore(db_path)
    monkeypatch.undo()

    assert user_version(db_path) == len(schema.MIGRATIONS)
    with HistoryStore(db_path) as store:
        assert prompts(store.recent()) == ["kept"]
        tables = store._conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'")
        assert tables.fetchall() == []


def test_a_version_1_history_gains_job_kinds(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history written before style jobs existed opens with its jobs as generations."""
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    schema._migrate_to_v1(conn)
    conn.execute("INSERT INTO jobs (created_at, prompt, status) VALUES (1.0, 'an old job', 'done')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    with HistoryStore(db_path) as store:
        (old,) = store.recent()
        assert (old.prompt, old.kind) == ("an old job", "generate")
        style_id = store.record(
            JobRecord(prompt="Style: cat.png in the style of waves.jpg", kind="style")
        )
        assert store.get(style_id).kind == "style"
        assert [job.kind for job in store.search("waves")] == ["style"]
        with pytest.raises(HistoryError, match="kind must be one of"):
            store.record(JobRecord(prompt="x", kind="teleport"))
    assert user_version(db_path) == len(schema.MIGRATIONS)


# --- damaged files ------------------------------------------------------------------------------


def damaged_copies(db_path: Path) -> list[Path]:
    return sorted(
        p
        for p in db_path.parent.iterdir()
        if p.name.startswith(f"{db_path.name}.damaged-") and not p.name.endswith(("-wal", "-shm"))
    )


def test_garbage_file_is_moved_aside(db_path: Path) -> None:
    garbage = b"this is not an SQLite database\x00\xff" * 200
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(garbage)
    wal = Path(f"{db_path}-wal")
    wal.write_bytes(b"stale wal bytes" * 10)

    with HistoryStore(db_path) as store:
        assert store.recovered_from is not None
        assert store.recovered_from.read_bytes() == garbage  # kept, byte for byte
        assert store.recovered_from.name.startswith("history.sqlite3.damaged-")
        stamp = store.recovered_from.name.removeprefix("history.sqlite3.damaged-")
        time.strptime(stamp, "%Y%m%d-%H%M%S")
        # the damaged file's journal went with it, so the fresh database cannot pick it up
        assert Path(f"{store.recovered_from}-wal").read_bytes() == b"stale wal bytes" * 10
        assert store.count() == 0
        job_id = store.record(JobRecord(prompt="fresh start"))
        assert prompts(store.search("fresh")) == ["fresh start"]
        assert store.get(job_id).prompt == "fresh start"
    assert damaged_copies(db_path) == [store.recovered_from]

    with HistoryStore(db_path) as store:  # healthy now: nothing moved
        assert store.recovered_from is None
        assert store.count() == 1


def test_corrupt_pages_are_moved_aside(db_path: Path) -> None:
    with HistoryStore(db_path) as store:
        for i in range(200):
            store.record(JobRecord(prompt=f"job {i} " + "x" * 200))
    # Fold the WAL into the main file so the corruption below hits the real pages.
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    page_size = 4096
    with db_path.open("r+b") as f:
        f.seek(page_size)
        f.write(b"\xff" * page_size * 3)
    original = db_path.read_bytes()

    with HistoryStore(db_path) as store:
        assert store.recovered_from is not None
        assert store.recovered_from.read_bytes() == original
        # the rows the damage spared are copied into the fresh history, with their numbers
        assert 0 < store.salvaged == store.count() <= 200
        assert store.recent(limit=1)[0].prompt.startswith("job 199 ")
        note = store.recovery_note()
        assert str(store.recovered_from) in note and f"{store.salvaged} entries" in note
        before = store.count()
        store.record(JobRecord(prompt="works"))
        assert store.count() == before + 1


def test_damaged_twice_in_a_row_keeps_both(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"first garbage" * 100)
    with HistoryStore(db_path) as store:
        first = store.recovered_from
    db_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db_path.write_bytes(b"second garbage" * 100)
    with HistoryStore(db_path) as store:
        second = store.recovered_from
    assert first is not None and second is not None and first != second
    assert first.read_bytes() == b"first garbage" * 100
    assert second.read_bytes() == b"second garbage" * 100
    assert damaged_copies(db_path) == sorted([first, second])


def test_unopenable_path_is_a_history_error_and_nothing_moves(tmp_path: Path) -> None:
    folder = tmp_path / "a folder, not a file"
    folder.mkdir()
    with pytest.raises(HistoryError):
        HistoryStore(folder)
    assert folder.is_dir()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]


# --- killed writer ------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from imagestudio.core.outputs.history import HistoryStore, JobRecord

    store = HistoryStore(sys.argv[1])
    i = 0
    while True:
        i += 1
        job_id = store.record(
            JobRecord(
                prompt=f"killed writer job {i}",
                outputs=(f"/out/{i}.png",),
                request={"i": i, "padding": "x" * 2000},
            )
        )
        print(job_id, i, flush=True)
    """
)


def test_killed_writer_loses_nothing_committed(tmp_path: Path) -> None:
    db_path = tmp_path / "history.sqlite3"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["IMAGESTUDIO_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # Read on a thread so a stuck child fails the test instead of hanging it (portable, unlike
    # select() on a pipe).
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in iter(proc.stdout.readline, "")],
        daemon=True,
    )
    reader.start()
    reported: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60
        while len(reported) < 30:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            job_id, i = map(int, line.split())
            reported[job_id] = i
            if time.monotonic() > deadline:
                break
    finally:
        proc.kill()  # SIGKILL on POSIX: no cleanup, no atexit, mid-write if we are lucky
        proc.wait(timeout=30)
    stderr = proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert len(reported) >= 30, f"child reported {len(reported)} ids; stderr:\n{stderr}"

    # The store is the first to open the file after the kill, so it is what recovers the WAL.
    with HistoryStore(db_path) as store:
        assert store.recovered_from is None
        assert store._conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        last = max(reported)
        assert store.count() >= len(reported)
        assert store.count() >= last
        for job_id, i in reported.items():
            record = store.get(job_id)
            assert record.prompt == f"killed writer job {i}"
            assert record.outputs == (f"/out/{i}.png",)
            assert record.request["i"] == i
        assert len(store.search("killed writer")) == min(50, store.count())
        # and it is still writable
        store.record(JobRecord(prompt="after the crash"))


# Seeded damage, so the run is the same every time: 0 and 1 read as "corrupt"; 33 and 57 make
# FTS5 read garbage as a huge length, which SQLite reports as out of memory (MemoryError).
@pytest.mark.parametrize("seed", [0, 1, 33, 57])
def test_a_damaged_search_index_is_rebuilt_and_nothing_is_lost(db_path: Path, seed: int) -> None:
    import random

    with HistoryStore(db_path) as store:
        for i in range(60):
            store.record(JobRecord(prompt=f"a red fox number {i}", favourite=i == 7))
    conn = sqlite3.connect(db_path)
    rng = random.Random(seed)
    blocks = conn.execute("SELECT id, length(block) FROM jobs_fts_data WHERE id > 1").fetchall()
    for block_id, size in blocks:
        conn.execute(
            "UPDATE jobs_fts_data SET block = ? WHERE id = ?", (rng.randbytes(size), block_id)
        )
    conn.commit()
    conn.close()
    with HistoryStore(db_path) as store:
        assert len(store.search("fox", limit=100)) == 60  # repaired, not "restart to fix"
        new_id = store.record(JobRecord(prompt="a blue heron"))
        assert [r.id for r in store.search("heron")] == [new_id]
        assert store.count() == 61 and store.get(8).favourite
    with HistoryStore(db_path) as store:  # and it stays repaired
        assert len(store.search("fox", limit=100)) == 60


def test_odd_rows_degrade_one_field_not_the_history(db_path: Path) -> None:
    with HistoryStore(db_path) as store:
        good = store.record(JobRecord(prompt="a good row", seed=5))
        odd = store.record(JobRecord(prompt="an odd row"))
    conn = sqlite3.connect(db_path)
    conn.execute(
        "UPDATE jobs SET created_at = 'abc', prompt = CAST(x'ff61' AS BLOB), seed = 'x', "
        "width = 1.5e400, request = '[[[', outputs = '{', count = 'x', kind = 'teleport' "
        "WHERE id = ?",
        (odd,),
    )
    conn.commit()
    conn.close()
    with HistoryStore(db_path) as store:
        rows = {r.id: r for r in store.recent()}
        assert rows[good].seed == 5
        strange = store.get(odd)
        assert strange.created_at == 0.0 and strange.prompt.endswith("a") and strange.seed is None
        assert strange.request == {} and strange.outputs == () and strange.count == 1
        assert len(store.search("good")) == 1


def test_a_newer_schema_is_refused_without_touching_the_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(HistoryError, match="newer version"):
        HistoryStore(db_path)
    assert db_path.read_bytes() == before
    assert not Path(f"{db_path}-wal").exists()


def test_search_with_a_nul_is_plain_text(db_path: Path) -> None:
    with HistoryStore(db_path) as store:
        store.record(JobRecord(prompt="a fox"))
        assert [r.prompt for r in store.search("fox\x00")] == ["a fox"]
        assert [r.prompt for r in store.search("\x00")] == ["a fox"]  # nothing left: all


def test_done_only_leaves_out_cancelled_and_failed_jobs(store: HistoryStore) -> None:
    add(store, "a fox that was made", 1.0)
    add(store, "a fox stopped early", 2.0, status="cancelled")
    add(store, "a fox that failed", 3.0, status="failed", message="Out of memory.")
    add(store, "a favourite fox", 4.0, favourite=True)
    assert [r.prompt for r in store.recent(done_only=True)] == [
        "a favourite fox",
        "a fox that was made",
    ]
    assert len(store.recent()) == 4
    assert [r.prompt for r in store.search("fox", done_only=True, favourites_only=True)] == [
        "a favourite fox"
    ]
    assert len(store.search("fox", done_only=True)) == 2
    assert [r.prompt for r in store._search_like("fox", done_only=True)] == [
        "a favourite fox",
        "a fox that was made",
    ]
