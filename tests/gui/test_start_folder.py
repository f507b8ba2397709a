"""Open dialogs start beside the chosen picture, the last folder used, or the outputs folder:
never the working folder the app was launched from."""

from __future__ import annotations

import os
from pathlib import Path

from imagestudio.core.paths import app_paths
from imagestudio.gui.widgets import start_folder as module
from imagestudio.gui.widgets.start_folder import remember, start_folder


def test_dialogs_start_in_the_outputs_folder_then_where_the_user_was(tmp_path: Path) -> None:
    module._last.clear()
    outputs = app_paths().outputs_dir
    outputs.mkdir(parents=True, exist_ok=True)
    assert start_folder() == str(outputs) != os.getcwd()
    picture = tmp_path / "art" / "fox.png"
    picture.parent.mkdir()
    picture.write_bytes(b"")
    assert start_folder(str(picture)) == str(picture.parent)
    remember(str(picture))
    assert start_folder() == str(picture.parent)
    assert start_folder(kind="models") != str(picture.parent)  # each kind remembers its own
    module._last.clear()
