from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from imagestudio.core.errors import StorageError
from imagestudio.core.outputs.storage import (
    atomic_write_bytes,
    check_can_create,
    output_name,
    plan_output_files,
    save_png_exact,
    save_png_unique,
    slugify,
)


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.bin"
    atomic_write_bytes(target, b"first")
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"first"
    assert leftovers(target.parent) == []
    atomic_write_bytes(target, b"third", overwrite=True)
    assert target.read_bytes() == b"third"
    assert leftovers(target.parent) == []


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root ignores permissions")
def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="Cannot write"):
            atomic_write_bytes(folder / "x.png", b"data")
    finally:
        folder.chmod(0o700)


def test_folder_in_place_of_parent_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("I am a file")
    with pytest.raises(StorageError):
        atomic_write_bytes(tmp_path / "file" / "x.png", b"data")


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("A Fox, in the snow!", "a-fox-in-the-snow"),
        ("Café crème ☕", "cafe-creme"),
        ("猫", "image"),
        ("", "image"),
        ("../../etc/passwd", "etc-passwd"),
        ("word " * 40, "-".join(["word"] * 9)),
    ],
)
def test_slugify(prompt: str, slug: str) -> None:
    assert slugify(prompt) == slug
    assert len(slugify(prompt)) <= 48


def test_output_name_has_date_seed_and_slug() -> None:
    name = output_name("A red fox", 1234, when=0)
    assert name.endswith("_1234_a-red-fox.png")
    assert name[:8].isdigit() and name[8] == "-"


def test_unique_names_add_a_counter(tmp_path: Path) -> None:
    image = Image.new("RGB", (8, 8), "red")
    paths = [save_png_unique(image, tmp_path, "x.png") for _ in range(3)]
    assert [p.name for p in paths] == ["x.png", "x-1.png", "x-2.png"]
    assert all(Image.open(p).size == (8, 8) for p in paths)


def test_exact_save_refuses_existing(tmp_path: Path) -> None:
    image = Image.new("RGB", (8, 8))
    save_png_exact(image, tmp_path / "out.png", None)
    with pytest.raises(StorageError, match="never overwrites"):
        save_png_exact(image, tmp_path / "out.png", None)


def test_planned_outputs(tmp_path: Path) -> None:
    assert plan_output_files(tmp_path / "a.png", 1) == [tmp_path / "a.png"]
    assert [p.name for p in plan_output_files(tmp_path / "a.png", 2)] == ["a-1.png", "a-2.png"]
    check_can_create([tmp_path / "new" / "deeper" / "a.png"])
    (tmp_path / "a-2.png").write_bytes(b"x")
    with pytest.raises(StorageError, match="already exists"):
        check_can_create(plan_output_files(tmp_path / "a.png", 2))


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path: Path) -> None:
    import stat

    from imagestudio.core.outputs import storage

    picture = atomic_write_bytes(tmp_path / "a.png", b"x")
    assert stat.S_IMODE(picture.stat().st_mode) == 0o666 & ~storage._UMASK
    kept = tmp_path / "settings.json"
    kept.write_bytes(b"{}")
    kept.chmod(0o600)
    atomic_write_bytes(kept, b"{}\n", overwrite=True)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path: Path) -> None:
    import os
    import time

    from imagestudio.core.outputs.storage import remove_stale_temporaries

    old = tmp_path / ".picture.png.abc123.tmp"
    fresh = tmp_path / f".other.png.{os.getpid()}.def456.tmp"
    dead = tmp_path / ".third.png.999999999.xyz.tmp"  # no such process: killed mid-write
    theirs = tmp_path / "notes.tmp"
    hidden = tmp_path / ".hidden"
    for path in (old, fresh, dead, theirs, hidden):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    for path in (old, theirs, hidden):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([old, dead])
    assert fresh.exists() and theirs.exists() and hidden.exists()
