"""The log: a read-only home or a logs path that is a file never prints tracebacks on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CODE = """
import logging
from imagestudio.core.logs import details_hint, setup_logging
setup_logging()
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("imagestudio.test").exception("boom")
logging.getLogger("imagestudio.test").error("plain error")
print(details_hint())
"""


@pytest.mark.parametrize("how", ["logs is a file", "home is read-only"])
def test_no_log_file_means_no_traceback_on_stderr(tmp_path: Path, how: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    if how == "logs is a file":
        (home / "logs").write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes to read-only folders; the file case covers the same path")
        home.chmod(0o500)
    env = dict(os.environ, IMAGESTUDIO_HOME=str(home))
    done = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0
    assert done.stderr == "" and "Traceback" not in done.stdout
    assert "no log file could be written" in done.stdout


def test_a_working_log_is_named(tmp_path: Path) -> None:
    env = dict(os.environ, IMAGESTUDIO_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.stderr == "" and "details are in" in done.stdout
    log = (tmp_path / "home" / "logs" / "imagestudio.log").read_text()
    assert "ZeroDivisionError" in log and "plain error" in log
