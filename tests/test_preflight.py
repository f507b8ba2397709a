"""The window's pre-flight: no display, or missing system libraries, is one sentence and exit 1,
never Qt's abort (SIGABRT and a core dump)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imagestudio import preflight


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checked on Linux only")
def test_no_display_is_a_sentence(monkeypatch) -> None:
    assert "no display" in (preflight.window_problem({}) or "")
    assert preflight.window_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    env = {
        key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")
    }
    env.pop("QT_QPA_PLATFORM", None)
    done = subprocess.run(
        [sys.executable, "-m", "imagestudio"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1  # not -6 (SIGABRT)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no display" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="checked on Linux only")
def test_a_missing_library_names_itself_and_the_install_command(monkeypatch) -> None:
    fake = ("libimagestudio-no-such-library.so.9", "libimagestudio-no-such9")
    assert preflight.missing_libraries((fake,)) == [fake]
    monkeypatch.setattr(preflight, "QT_LIBRARIES", (*preflight.QT_LIBRARIES, fake))
    problem = preflight.window_problem({"DISPLAY": ":0"})
    assert problem is not None
    assert "libimagestudio-no-such-library.so.9" in problem
    assert problem.endswith("sudo apt-get install libimagestudio-no-such9")
    assert preflight.window_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}) is None


def test_the_readme_installs_every_library_the_check_looks_for() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("sudo apt-get install"))
    assert set(preflight.APT_PACKAGES.split()) <= set(line.split())
    # the two set-up commands make their own environment (system pip refuses on Debian 12)
    assert "python3 -m venv .venv && .venv/bin/pip install -c constraints/cpu.txt -e ." in readme
