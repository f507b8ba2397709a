"""The queue under the forms: the job that runs, jobs running beside it on other backends, and
jobs waiting their turn, one line each."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QWidget,
)

_SHOWN_CHARS = 60
_SHOWN_ROWS = 4
_TEXT_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's whole text, before any progress


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


class QueueList(QListWidget):
    """(job id, description) rows; Delete on a selected row removes it (see menus)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip(
            "Jobs running on other backends, and jobs waiting their turn. Select one and press "
            "Delete to cancel or remove it."
        )

    def set_jobs(self, jobs: list[tuple[int, str]]) -> None:
        self.clear()
        for job_id, text in jobs:
            item = QListWidgetItem(_shown(text))
            item.setToolTip(text)
            item.setData(Qt.ItemDataRole.UserRole, job_id)
            item.setData(_TEXT_ROLE, text)
            self.addItem(item)
        # as tall as its rows (up to a few, then it scrolls): the form above keeps the room
        rows = min(max(self.count(), 1), _SHOWN_ROWS)
        row_height = self.sizeHintForRow(0) if self.count() else self.fontMetrics().height()
        self.setFixedHeight(rows * row_height + 2 * self.frameWidth() + 2)

    def update_job(self, job_id: int, progress: str) -> None:
        """Say how far a listed running job is, in place (the selection stays)."""
        for row in range(self.count()):
            item = self.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == job_id:
                text = f"{item.data(_TEXT_ROLE)} · {progress}"
                item.setToolTip(text)
                item.setText(_shown(text))
                return

    def selected_id(self) -> int | None:
        item = self.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))


class RunningJobRow(QFrame):
    """The job that runs now, apart from those waiting: what it makes, how far it is, and its
    own Cancel (the form's Cancel and Esc do the same)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("running_job")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(self)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setMinimumWidth(40)
        self.progress = QLabel(self)
        self.progress.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop this job (Esc)")
        self.cancel_button.setAccessibleName("Cancel the running job")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 3, 3)
        layout.addWidget(self.title, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.cancel_button)
        self._text = ""
        self.hide()

    def show_job(self, text: str) -> None:
        self._text = text
        self.setToolTip(text)
        self.progress.setText("starting…")
        self.cancel_button.setEnabled(True)
        self._elide()
        self.show()

    def set_progress(self, text: str) -> None:
        self.progress.setText(text)

    def set_cancelling(self) -> None:
        self.progress.setText("cancelling…")
        self.cancel_button.setEnabled(False)

    def clear(self) -> None:
        self._text = ""
        self.hide()

    def text(self) -> str:
        return self._text

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(40, self.title.width())
        metrics = self.title.fontMetrics()
        shown = metrics.elidedText(f"Running: {self._text}", Qt.TextElideMode.ElideRight, width)
        self.title.setText(shown)
