"""A drop target for an image file (thumbnail and name), and a group box that takes drops too."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QPalette, QPixmap
from PySide6.QtWidgets import QFrame, QGroupBox, QLabel, QVBoxLayout, QWidget

from imagestudio.gui.images import image_path_from_mime, load_thumbnail


class _DropsAnImage:
    """Drag and drop of one image file onto a widget; the widget says where the image goes
    (`drop_mime_data`) and whether it takes drops now (`takes_drops`)."""

    def takes_drops(self) -> bool:
        return True

    def drop_mime_data(self, mime: QMimeData) -> bool:  # each widget says where it goes
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.takes_drops() and image_path_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self.dragEnterEvent(event)  # type: ignore[arg-type]  # QDragEnterEvent adds nothing

    def dropEvent(self, event: QDropEvent) -> None:
        if self.takes_drops() and self.drop_mime_data(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()


class ImageDropArea(_DropsAnImage, QFrame):
    """A drop target for an image file that shows a thumbnail and the file name."""

    path_changed = Signal(str)  # "" when cleared
    image_dropped = Signal(str)  # only for drops by the user

    THUMBNAIL_SIZE = 96
    EMPTY_TEXT = "Drop an image here"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._path: str | None = None
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFrameShadow(QFrame.Shadow.Sunken)
        # One height, empty or filled: a slot that grew when a picture arrived moved the
        # buttons under the pointer (room for the thumbnail and two lines of file name).
        self.setFixedHeight(self.THUMBNAIL_SIZE + 2 * self.fontMetrics().height() + 18)
        self.setAccessibleName("Start image")
        self.setToolTip("Drop an image file here to start from it, or use Choose…")
        self.thumbnail_label = QLabel(self)
        self.thumbnail_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail_label.hide()
        self.name_label = QLabel(self.EMPTY_TEXT, self)
        self.name_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name_label.setWordWrap(True)
        self.name_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(2)
        layout.addWidget(self.thumbnail_label)
        layout.addWidget(self.name_label)

    def path(self) -> str | None:
        return self._path

    def set_path(self, path: str | None) -> None:
        """Show `path` (an image file) or, with None, the empty state."""
        path = str(Path(path).expanduser().absolute()) if path else None
        if path == self._path:
            return
        self._path = path
        if path is None:
            self.thumbnail_label.clear()
            self.thumbnail_label.hide()
            self.name_label.setText(self.EMPTY_TEXT)
            self.name_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            self.name_label.setToolTip("")
        else:
            image = load_thumbnail(path, self.THUMBNAIL_SIZE)
            if image.isNull():
                self.thumbnail_label.setText("(no preview)")
            else:
                self.thumbnail_label.setPixmap(QPixmap.fromImage(image))
            self.thumbnail_label.show()
            self.name_label.setText(Path(path).name)
            self.name_label.setForegroundRole(QPalette.ColorRole.WindowText)
            self.name_label.setToolTip(path)
        self.path_changed.emit(path or "")

    def changeEvent(self, event: QEvent) -> None:
        # Disabled (img2img off), the area lets drops through to the group box around it.
        if event.type() == QEvent.Type.EnabledChange:
            self.setAcceptDrops(self.isEnabled())
        super().changeEvent(event)

    def drop_mime_data(self, mime: QMimeData) -> bool:
        """Take the first image file in `mime`; False when there is none."""
        path = image_path_from_mime(mime)
        if path is None:
            return False
        self.set_path(path)
        self.image_dropped.emit(self._path or "")
        return True


class ImageGroupBox(_DropsAnImage, QGroupBox):
    """The img2img group. It takes image drops too, so that dropping an image on it while it
    is unticked (its children, the drop area included, are disabled then) turns it on."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.drop_area: ImageDropArea | None = None
        self.setAcceptDrops(True)

    def takes_drops(self) -> bool:
        return self.drop_area is not None

    def drop_mime_data(self, mime: QMimeData) -> bool:
        return self.drop_area is not None and self.drop_area.drop_mime_data(mime)
