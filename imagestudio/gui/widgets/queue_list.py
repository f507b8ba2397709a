"""The queue under the forms: jobs waiting their turn, one line each."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

_SHOWN_CHARS = 60


class QueueList(QListWidget):
    """(job id, description) rows; Delete on a selected row removes it (see menus)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Jobs waiting their turn. Select one and press Delete to remove.")
        self.setMaximumHeight(110)

    def set_jobs(self, jobs: list[tuple[int, str]]) -> None:
        self.clear()
        for job_id, text in jobs:
            shown = text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
            item = QListWidgetItem(shown)
            item.setToolTip(text)
            item.setData(Qt.ItemDataRole.UserRole, job_id)
            self.addItem(item)

    def selected_id(self) -> int | None:
        item = self.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))
