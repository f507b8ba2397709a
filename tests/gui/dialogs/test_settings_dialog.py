"""The settings dialog: values round-trip, folders are checked before the dialog closes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from imagestudio.core.settings import Settings
from imagestudio.gui.dialogs import settings as dialog_module
from imagestudio.gui.dialogs.settings import DEVICE_NOTE, SettingsDialog


@pytest.fixture
def custom(tmp_path: Path) -> Settings:
    return Settings(
        outputs_dir=str(tmp_path / "pictures"),
        models_dir=str(tmp_path / "models"),
        default_model="my-model",
        device="cpu",
        precision="fp16",
        previews=False,
        theme="dark",
        problems=["an old problem"],
    )


def _open(qtbot, settings: Settings) -> SettingsDialog:
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def _ok(qtbot, dialog: SettingsDialog) -> None:
    button = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_values_round_trip(qtbot, custom: Settings) -> None:
    dialog = _open(qtbot, custom)
    result = dialog.settings()
    assert result == custom
    assert result.default_model == "my-model"  # fields the dialog doesn't show are kept
    assert result.problems == []
    assert result is not custom

    default = _open(qtbot, Settings()).settings()
    assert default == Settings()


def test_fields_show_the_values_and_defaults(qtbot, custom: Settings) -> None:
    dialog = _open(qtbot, custom)
    assert dialog.device_combo.currentText() == "CPU"
    assert dialog.precision_combo.currentText() == "fp16"
    assert dialog.theme_combo.currentText() == "Dark"
    assert not dialog.previews_check.isChecked()
    assert [dialog.device_combo.itemText(i) for i in range(dialog.device_combo.count())] == [
        "Automatic",
        "CUDA",
        "Apple MPS",
        "CPU",
    ]
    defaults = Settings()
    assert dialog.outputs_field.line_edit.placeholderText() == str(defaults.resolved_outputs_dir())
    assert dialog.models_field.line_edit.placeholderText() == str(defaults.resolved_models_dir())
    assert DEVICE_NOTE == "Device, precision and memory apply to the next model load."


def test_edited_values_come_back(qtbot, tmp_path: Path) -> None:
    dialog = _open(qtbot, Settings())
    dialog.outputs_field.line_edit.setText(str(tmp_path / "out"))
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findText("Apple MPS"))
    dialog.precision_combo.setCurrentIndex(dialog.precision_combo.findText("bf16"))
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findText("Light"))
    qtbot.mouseClick(dialog.previews_check, Qt.MouseButton.LeftButton)
    result = dialog.settings()
    assert result.outputs_dir == str(tmp_path / "out")
    assert result.models_dir == ""
    assert (result.device, result.precision, result.theme) == ("mps", "bf16", "light")
    assert result.previews is False


def test_a_file_as_folder_keeps_the_dialog_open(qtbot, tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    dialog = _open(qtbot, Settings(outputs_dir=str(a_file)))
    _ok(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "not a folder" in dialog.error_text()
    assert dialog._error.isVisible()


def test_a_folder_that_cannot_be_created_keeps_the_dialog_open(qtbot, tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    dialog = _open(qtbot, Settings(models_dir=str(a_file / "models")))
    _ok(qtbot, dialog)
    assert dialog.isVisible()
    assert "cannot be created" in dialog.error_text()
    assert "models folder" in dialog.error_text()


def test_a_relative_folder_is_refused(qtbot) -> None:
    dialog = _open(qtbot, Settings(outputs_dir="pictures"))
    _ok(qtbot, dialog)
    assert dialog.isVisible() and "full path" in dialog.error_text()


def test_ok_with_valid_values_accepts_and_creates_the_folder(qtbot, tmp_path: Path) -> None:
    new_folder = tmp_path / "new" / "outputs"
    dialog = _open(qtbot, Settings())
    dialog.outputs_field.line_edit.setText(str(new_folder))
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        _ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert new_folder.is_dir()
    assert dialog.error_text() == ""


def test_fixing_the_folder_then_ok_accepts(qtbot, tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    dialog = _open(qtbot, Settings(outputs_dir=str(a_file)))
    _ok(qtbot, dialog)
    assert dialog.error_text()
    dialog.outputs_field.line_edit.clear()  # back to the default folder
    _ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.settings().outputs_dir == ""


def test_cancel_rejects(qtbot, custom: Settings) -> None:
    dialog = _open(qtbot, custom)
    button = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_choose_fills_in_the_folder(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    asked: list[str] = []

    def fake_dialog(parent, caption, directory):
        asked.append(directory)
        return str(tmp_path)

    monkeypatch.setattr(
        dialog_module.QFileDialog, "getExistingDirectory", staticmethod(fake_dialog)
    )
    dialog = _open(qtbot, Settings())
    qtbot.mouseClick(dialog.models_field.choose_button, Qt.MouseButton.LeftButton)
    assert Path(dialog.settings().models_dir) == tmp_path
    assert asked and Path(asked[0]).is_dir()  # starts in a folder that exists
