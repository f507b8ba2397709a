"""An attack on the command line and the core's files, case by case, as real subprocesses.

    python -m imagestudio.dev.attack [--out DIR] [--only WORD]

Each case runs `imagestudio ...` in a fresh IMAGESTUDIO_HOME (bad arguments, broken files,
damaged state) and is judged:

- clear error: a non-zero exit whose stderr ends in one "imagestudio: error: ..." sentence;
- ok: exit 0 (a case that the app handles, with a warning where it should);
- traceback: "Traceback" or "unexpected" anywhere in the output;
- hang: still running after 60 s;
- data lost: a damaged file's bytes are no longer anywhere under the home;
- write outside: a file appeared outside the home and the case's own output folder.

It prints a table (cases per outcome) and the cases that were not clear errors or ok. It is a
development tool: the app never imports it. Property-based fuzzing of the readers lives in the
test suite (tests/**/test_*_robust.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HANG_S = 60.0


@dataclass
class Case:
    name: str
    argv: list[bytes | str]
    prepare: Callable[[Path, Path], None] | None = None  # (home, scratch)
    keep: list[str] = field(default_factory=list)  # home-relative files whose bytes must survive


@dataclass
class Result:
    case: Case
    outcome: str
    code: int | None
    tail: str
    seconds: float


def _png(path: Path, size: tuple[int, int] = (64, 64)) -> Path:
    from PIL import Image

    Image.new("RGB", size, "red").save(path)
    return path


def _safetensors(path: Path, header: bytes) -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


def _write(home: Path, relative: str, data: bytes) -> None:
    path = home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _history(home: Path, rows: int = 20) -> Path:
    from imagestudio.core.outputs.history import HistoryStore, JobRecord

    path = home / "data" / "history.sqlite3"
    with HistoryStore(path) as store:
        for i in range(rows):
            store.record(JobRecord(prompt=f"fox {i}"))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def cases(model: Path) -> list[Case]:
    m = ["--model", str(model), "--steps", "2"]
    gen = ["generate", "a red circle", *m]
    out: list[Case] = []

    def add(name: str, argv: list, prepare=None, keep=None) -> None:
        out.append(Case(name, argv, prepare, keep or []))

    # -- generate: values ------------------------------------------------------------------
    for flag, values in {
        "--size": ["0x0", "7x7", "513x512", "99999x99999", "-64x64", "64x", "x", "1e3x1e3", ""],
        "--steps": ["0", "-1", "151", "1.5", "9" * 30, "nan"],
        "--cfg": ["-1", "31", "nan", "inf", "1e400", "x"],
        "--seed": ["-1", str(2**32), "9" * 5000, "0x10"],
        "--count": ["0", "17", "-3", "1e9"],
        "--scheduler": ["warp", "", "Euler" * 1000],
        "--strength": ["0", "2", "nan"],
        "--lora": ["x:9", "x:nan", ":", "a:1"],
    }.items():
        for value in values:
            add(f"generate {flag} {value[:12]!r}", [*gen, flag, value])
    for name, prompt in {
        "empty prompt": "",
        "blank prompt": "   \n\t",
        "huge prompt": "fox " * 10_000,
    }.items():
        add(f"generate {name}", ["generate", prompt, *m])
    for name, raw in {
        "non-UTF-8 prompt": b"a \xff fox",
        "non-UTF-8 negative": b"\xc3\x28",
    }.items():
        add(f"generate {name}", [b"generate", raw, *[x.encode() for x in m]])
    add("generate non-UTF-8 output", [*gen, "--output", b"/tmp/\xffout/"])
    # -- generate: models ------------------------------------------------------------------
    for name, value in {
        "missing model": "/no/such/model",
        "model is a file": "/etc/hostname",
        "model name with ..": "../../etc",
        "model is /dev/zero": "/dev/zero",
    }.items():
        add(f"generate {name}", ["generate", "a fox", "--model", value])

    def bad_models(home: Path, scratch: Path) -> None:
        models = home / "models"
        models.mkdir(parents=True)
        _safetensors(models / "deep.safetensors", b"[" * 100_000 + b"]" * 100_000)
        _safetensors(
            models / "offsets.safetensors",
            b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,99999]}}',
        )
        (models / "evil.ckpt").write_bytes(b"\x80\x04not really")
        (models / "loop").symlink_to(models / "loop")
        folder = models / "deepfolder"
        folder.mkdir()
        (folder / "model_index.json").write_bytes(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)

    for argv in (
        ["models", "list", "--all"],
        ["models", "info", "deep"],
        ["models", "info", "offsets"],
        ["generate", "a fox", "--model", "deep"],
        ["generate", "a fox", "--model", "offsets"],
        ["generate", "a fox", "--model", "evil"],
        ["generate", "a fox", "--model", "deepfolder"],
        [*gen, "--lora", "deep"],
        ["info"],
    ):
        add(f"bad models folder: {' '.join(map(str, argv))[:40]}", argv, bad_models)

    # -- input pictures --------------------------------------------------------------------
    def pictures(home: Path, scratch: Path) -> None:
        from PIL import Image

        (scratch / "empty.png").write_bytes(b"")
        (scratch / "text.png").write_text("hello")
        data = _png(scratch / "ok.png").read_bytes()
        (scratch / "cut.png").write_bytes(data[: len(data) // 2])
        Image.new("1", (14_000, 14_000)).save(scratch / "bomb.png")
        os.mkfifo(scratch / "fifo.png")
        (scratch / "loop.png").symlink_to(scratch / "loop.png")
        (scratch / "folder.png").mkdir()

    for picture in (
        "empty.png",
        "text.png",
        "cut.png",
        "bomb.png",
        "fifo.png",
        "loop.png",
        "folder.png",
        "missing.png",
    ):
        add(f"generate --init {picture}", [*gen, "--init", f"@{picture}"], pictures)
        add(f"pnginfo {picture}", ["pnginfo", f"@{picture}"], pictures)
        add(
            f"stylize --content {picture}",
            ["stylize", "--content", f"@{picture}", "--style", "@ok.png"],
            pictures,
        )
        add(
            f"stylize quality --style {picture}",
            [
                "stylize",
                "--content",
                "@ok.png",
                "--style",
                f"@{picture}",
                "--mode",
                "quality",
                "--iterations",
                "2",
                "--size",
                "64",
            ],
            pictures,
        )
    add("generate --init /dev/zero", [*gen, "--init", "/dev/zero"])
    add("generate --init /tmp", [*gen, "--init", "/tmp"])
    add("stylize --style /dev/zero", ["stylize", "--content", "/dev/zero", "--style", "/dev/zero"])
    for flag, value in {
        "--size": "9999",
        "--iterations": "0",
        "--strength": "5",
        "--seed": "-1",
    }.items():
        add(
            f"stylize {flag} {value}",
            ["stylize", "--content", "@ok.png", "--style", "@ok.png", flag, value],
            pictures,
        )

    # -- other tools' settings in pictures ---------------------------------------------------
    def hostile_settings(home: Path, scratch: Path) -> None:
        import json

        from PIL import Image
        from PIL.PngImagePlugin import PngInfo

        cycle = {
            str(i): {
                "class_type": "KSampler",
                "inputs": {
                    "positive": [str(i + 1), 0],
                    "latent_image": [str(i - 1), 0],
                    "model": [str(i), 0],
                },
            }
            for i in range(5000)
        }
        deep = "[" * 100_000 + "]" * 100_000
        bomb = (
            '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            + "".join(
                f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
            )
            + "]><exif:UserComment>&j;</exif:UserComment>"
        )
        chunks = {
            "graph-cycle.png": {"prompt": json.dumps(cycle)},
            "deep-json.png": {"workflow": deep, "Comment": deep, "parameters": deep},
            "xmp-bomb.png": {"XML:com.adobe.xmp": bomb},
            "easy-junk.png": {"prompt": "x" * 900_000, "num_inference_steps": "9" * 5000},
            "dream-quotes.png": {"Dream": '"' * 200_000},
        }
        for name, values in chunks.items():
            info = PngInfo()
            for key, value in values.items():
                info.add_itxt(key, value)
            Image.new("RGB", (8, 8)).save(scratch / name, pnginfo=info)

    for picture in (
        "graph-cycle.png",
        "deep-json.png",
        "xmp-bomb.png",
        "easy-junk.png",
        "dream-quotes.png",
    ):
        add(f"pnginfo {picture}", ["pnginfo", f"@{picture}"], hostile_settings)
        add(f"pnginfo --json {picture}", ["pnginfo", f"@{picture}", "--json"], hostile_settings)

    # -- outputs ---------------------------------------------------------------------------
    def outputs(home: Path, scratch: Path) -> None:
        (scratch / "taken.png").write_bytes(b"mine")
        (scratch / "a-file").write_bytes(b"mine")

    for name, target in {
        "output exists": "@taken.png",
        "output not png": "@x.jpg",
        "output folder is a file": "@a-file/",
        "output in /proc": "/proc/nope/x.png",
    }.items():
        add(f"generate {name}", [*gen, "--output", target], outputs, keep=[])
    add("generate --previews is a file", [*gen, "--previews", "@a-file"], outputs)
    # -- damaged state ---------------------------------------------------------------------
    settings = "config/settings.json"
    for name, raw in {
        "settings bad bytes": b"\xff\xfe\x00",
        "settings deep": b"[" * 100_000 + b"]" * 100_000,
        "settings trailing comma": b'{"device": "cpu",}',
        "settings not an object": b"[1,2,3]",
        "settings huge number": b'{"memory_mode": ' + b"9" * 5000 + b"}",
        "settings newer schema": b'{"schema_version": 99, "x": 1, "device": "quantum"}',
    }.items():
        for argv in (
            ["info"],
            ["models", "set", "starter", "--prediction", "epsilon"],
            gen,
            ["history", "list"],
            ["models", "list"],
        ):
            add(
                f"{name}: {argv[0]} {argv[1] if len(argv) > 1 else ''}"[:60],
                argv,
                lambda home, scratch, raw=raw: _write(home, settings, raw),
                keep=[settings],
            )
    add(
        "settings is a folder",
        ["info"],
        lambda home, scratch: (home / settings).mkdir(parents=True),
    )
    add(
        "settings is a folder: set",
        ["models", "set", "starter", "--prediction", "epsilon"],
        lambda home, scratch: (home / settings).mkdir(parents=True),
    )

    history = "data/history.sqlite3"

    def garbage_history(home: Path, scratch: Path) -> None:
        _write(home, history, b"not a database at all" * 100)

    def damaged_history(home: Path, scratch: Path) -> None:
        path = _history(home)
        raw = bytearray(path.read_bytes())
        raw[100:116] = b"\xff" * 16
        path.write_bytes(bytes(raw))

    def damaged_index(home: Path, scratch: Path) -> None:
        path = _history(home)
        conn = sqlite3.connect(path)
        conn.execute("UPDATE jobs_fts_data SET block = randomblob(length(block)) WHERE id > 1")
        conn.commit()
        conn.close()

    def newer_history(home: Path, scratch: Path) -> None:
        path = _history(home)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 99")
        conn.close()

    def odd_rows(home: Path, scratch: Path) -> None:
        path = _history(home)
        conn = sqlite3.connect(path)
        conn.execute(
            "UPDATE jobs SET created_at = 'abc', prompt = x'ff00', request = '[[' WHERE id < 5"
        )
        conn.commit()
        conn.close()

    for name, prepare in {
        "history garbage": garbage_history,
        "history damaged": damaged_history,
        "history damaged index": damaged_index,
        "history newer schema": newer_history,
        "history odd rows": odd_rows,
        "history is a folder": lambda home, scratch: (home / history).mkdir(parents=True),
    }.items():
        for argv in (
            ["history", "list"],
            ["history", "search", "fox"],
            ["history", "show", "3"],
            gen,
        ):
            add(
                f"{name}: {' '.join(argv[:2])}",
                argv,
                prepare,
                keep=[history] if "folder" not in name else [],
            )
    for argv in (
        ["history", "show", "0"],
        ["history", "show", str(2**70)],
        ["history", "show", "-1"],
        ["history", "search", '"(NEAR AND *'],
        ["history", "search", "x" * 100_000],
        ["history", "favourite", "99"],
        ["history", "delete", str(2**70)],
        ["history", "list", "--limit", "-5"],
    ):
        add(
            f"history {' '.join(argv[1:])[:30]}",
            argv,
            lambda home, scratch: _history(home) and None,
        )
    # -- logs and folders ------------------------------------------------------------------
    add("logs is a file", gen, lambda home, scratch: _write(home, "logs", b"x"))
    add("outputs is a file", gen, lambda home, scratch: _write(home, "outputs", b"x"))
    add("models is a file", ["models", "list"], lambda home, scratch: _write(home, "models", b"x"))

    # -- models commands -------------------------------------------------------------------
    def pickles(home: Path, scratch: Path) -> None:
        import torch

        class Payload:
            def __reduce__(self):
                return (os.system, (f"touch {scratch / 'PAYLOAD-RAN'}",))

        torch.save({"w": torch.zeros(2), "p": Payload()}, scratch / "evil.ckpt")
        (scratch / "text.ckpt").write_text("hello")
        (scratch / "empty.ckpt").write_bytes(b"")

    for argv in (
        ["models", "import", "@evil.ckpt"],
        ["models", "convert", "@evil.ckpt"],
        ["generate", "a fox", "--model", "@evil.ckpt"],
        ["models", "info", "@evil.ckpt"],
        ["models", "import", "@text.ckpt"],
        ["models", "convert", "@empty.ckpt"],
        ["models", "import", "/dev/zero"],
        ["models", "import", "/nonexistent"],
        ["models", "convert", "/tmp"],
        ["models", "set", "nope", "--prediction", "epsilon"],
        ["models", "download", "../../etc"],
        ["models", "download", "a/b/c"],
        ["models", "download", "https://evil.example/x/y"],
        ["models", "download", "owner/name"],  # offline here: a sentence, no hang
    ):
        add(f"models {' '.join(map(str, argv[1:]))[:40]}", argv, pickles)
    # -- bench ------------------------------------------------------------------------------
    for argv in (["bench", "--repeats", "0"], ["bench", "--steps", "0"], ["bench", "--size", "x"]):
        add(" ".join(argv), argv)
    return out


def run_case(case: Case, root: Path) -> Result:
    home = root / "home"
    scratch = root / "scratch"
    outside = root / "outside-sentinel"
    for folder in (home, scratch, outside):
        folder.mkdir(parents=True)
    if case.prepare is not None:
        case.prepare(home, scratch)
    kept = {rel: (home / rel).read_bytes() for rel in case.keep if (home / rel).is_file()}
    prompts = _prompts_under(home)  # the history's entries that can be read before the case
    before = {p for p in root.rglob("*")} | _tmp_listing()
    argv: list[bytes | str] = [
        str(scratch / a[1:]) if isinstance(a, str) and a.startswith("@") else a for a in case.argv
    ]
    env = dict(os.environ, IMAGESTUDIO_HOME=str(home), HF_ENDPOINT="http://127.0.0.1:9")
    env["HF_HOME"] = str(root / "hf")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "imagestudio", *argv],
            capture_output=True,
            env=env,
            timeout=HANG_S,
            cwd=scratch,
        )
    except subprocess.TimeoutExpired:
        return Result(case, "hang", None, "", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    tail = " | ".join(line for line in done.stderr.decode("utf-8", "replace").splitlines()[-2:])
    if "Traceback" in text or "unexpected" in text or "Logging error" in text:
        return Result(case, "traceback", done.returncode, tail, seconds)
    if (scratch / "PAYLOAD-RAN").exists():
        return Result(case, "payload ran", done.returncode, tail, seconds)
    new = {p for p in root.rglob("*")} | _tmp_listing()
    outside_writes = [
        p
        for p in new - before
        if not (p.is_relative_to(home) or p.is_relative_to(scratch))
        and not p.is_relative_to(root / "hf")
    ]
    if outside_writes:
        return Result(case, "write outside", done.returncode, str(outside_writes[:3]), seconds)
    every = [p.read_bytes() for p in home.rglob("*") if p.is_file()]
    for rel, data in kept.items():
        if rel.endswith(".sqlite3"):
            if not prompts <= _prompts_under(home):
                return Result(case, "data lost", done.returncode, f"rows of {rel} gone", seconds)
        elif data not in every:
            return Result(case, "data lost", done.returncode, f"{rel} gone", seconds)
    last = done.stderr.decode("utf-8", "replace").strip().splitlines()
    said = bool(last) and last[-1].startswith("imagestudio: error: ")
    said = said or "cannot load:" in done.stdout.decode("utf-8", "replace")  # models info
    if done.returncode != 0 and said:
        return Result(case, "clear error", done.returncode, tail, seconds)
    if done.returncode == 0:
        return Result(case, "ok", 0, tail, seconds)
    return Result(case, "unclear failure", done.returncode, tail, seconds)


def _prompts_under(home: Path) -> set[str]:
    """The prompts of every history entry readable from any history file under `home` (the
    live one, or one moved aside as damaged)."""
    from imagestudio.core.outputs.schema import readable_rows

    found: set[str] = set()
    for path in home.rglob("history.sqlite3*"):
        if path.is_file() and not path.name.endswith(("-wal", "-shm", "-journal")):
            found |= {str(row[2]) for row in readable_rows(path)}
    return found


def _tmp_listing() -> set[Path]:
    try:
        return {Path("/tmp") / name for name in os.listdir("/tmp")}
    except OSError:
        return set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="write results.json here")
    parser.add_argument("--only", default=None, help="run only cases whose name has this word")
    args = parser.parse_args(argv)
    from imagestudio.dev.randommodels import build_random_sd

    with tempfile.TemporaryDirectory(prefix="imagestudio-attack-") as tmp:
        model = build_random_sd(Path(tmp) / "tiny-sd", "tiny")
        todo = [c for c in cases(model) if args.only is None or args.only in c.name]
        results: list[Result] = []
        for index, case in enumerate(todo):
            root = Path(tmp) / f"case-{index}"
            result = run_case(case, root)
            results.append(result)
            shutil.rmtree(root, ignore_errors=True)
            mark = "." if result.outcome in ("clear error", "ok") else "!"
            print(mark, end="", flush=True)
    print()
    counts = Counter(r.outcome for r in results)
    print(f"{len(results)} cases")
    for outcome in (
        "clear error",
        "ok",
        "traceback",
        "hang",
        "data lost",
        "write outside",
        "payload ran",
        "unclear failure",
    ):
        print(f"  {outcome:<16} {counts.get(outcome, 0)}")
    for result in results:
        if result.outcome not in ("clear error", "ok"):
            print(f"- {result.outcome}: {result.case.name} (exit {result.code}): {result.tail}")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        rows = [
            {
                "case": r.case.name,
                "outcome": r.outcome,
                "exit": r.code,
                "tail": r.tail,
                "seconds": round(r.seconds, 2),
            }
            for r in results
        ]
        (Path(args.out) / "results.json").write_text(json.dumps(rows, indent=1))
    return 0 if all(r.outcome in ("clear error", "ok") for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
