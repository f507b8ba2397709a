"""The strip along the bottom of the window: this session's results, newest on the left."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QIcon, QMouseEvent, QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QStyle,
    QWidget,
)

from imagestudio.gui.images import load_thumbnail

ICON_SIZE = 96
# Results kept in the strip; older ones drop off the right (they stay on disk and in History).
MAX_ITEMS = 500
EMPTY_TEXT = "Results of this session appear here"
_SPACING = 4
_PATH_ROLE = Qt.ItemDataRole.UserRole


class GalleryStrip(QListWidget):
    """One row of thumbnails. Click one to show it; drag one out to use the file elsewhere."""

    image_selected = Signal(str)  # path
    upscale_requested = Signal(str)  # path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.setGridSize(QSize(ICON_SIZE + 2 * _SPACING, ICON_SIZE + 2 * _SPACING))
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        # Room for one row of icons and the scroll bar: about 120 px with the usual styles.
        scroll_bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        self.setFixedHeight(ICON_SIZE + 2 * _SPACING + 2 * self.frameWidth() + scroll_bar)
        self._placeholder = self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        self._current_before_press: QListWidgetItem | None = None
        # Set while items are added or dropped: the current item moving is not the user's choice.
        self._rearranging = False

        self.currentItemChanged.connect(self._current_changed)
        self.itemClicked.connect(self._clicked)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_context_menu)

    def add_image(self, path: str) -> None:
        """Add a result at the left. An unreadable file still gets an entry, with a plain icon.

        A path already in the strip moves to the left with a fresh thumbnail rather than
        appearing twice (the file may have been written again).
        """
        path = str(path)
        image = load_thumbnail(path, ICON_SIZE)
        icon = self._placeholder if image.isNull() else QIcon(QPixmap.fromImage(image))
        item = QListWidgetItem(icon, "")
        item.setData(_PATH_ROLE, path)
        item.setToolTip(Path(path).name)
        self._rearranging = True
        try:
            for row in range(self.count()):
                if self.item(row).data(_PATH_ROLE) == path:
                    self.takeItem(row)
                    break
            self.insertItem(0, item)
            while self.count() > MAX_ITEMS:
                self.takeItem(self.count() - 1)
        finally:
            self._rearranging = False
        self.scrollToItem(item)

    def build_context_menu(self, path: str) -> QMenu:
        """The menu for one thumbnail; the caller owns it."""
        menu = QMenu(self)
        upscale = menu.addAction("Upscale…")
        upscale.setToolTip("Enlarge this picture with an upscaler (Real-ESRGAN)")
        upscale.triggered.connect(lambda: self.upscale_requested.emit(path))
        return menu

    def _show_context_menu(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        path = str(item.data(_PATH_ROLE))
        menu = self.build_context_menu(path)
        menu.exec(self.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def paths(self) -> list[str]:
        """The paths shown, newest first."""
        return [self.item(row).data(_PATH_ROLE) for row in range(self.count())]

    # Qt overrides ------------------------------------------------------------------------------

    def mimeData(self, items: Sequence[QListWidgetItem]) -> QMimeData:
        """File URLs, so that a result dragged out drops into a file manager, editor or browser."""
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(item.data(_PATH_ROLE)) for item in items])
        return data

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def supportedDropActions(self) -> Qt.DropAction:
        # Copy only: with Move a file manager would move the file away, and Qt would then remove
        # the item from the strip.
        return Qt.DropAction.CopyAction

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._current_before_press = self.currentItem()
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.count() == 0:
            painter = QPainter(self.viewport())
            try:
                # The disabled text colour: muted, and right in both light and dark palettes.
                self.style().drawItemText(
                    painter,
                    self.viewport().rect(),
                    Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                    self.palette(),
                    False,
                    EMPTY_TEXT,
                    QPalette.ColorRole.Text,
                )
            finally:
                painter.end()

    # internals ---------------------------------------------------------------------------------

    def _current_changed(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        if current is not None and not self._rearranging:
            self.image_selected.emit(current.data(_PATH_ROLE))

    def _clicked(self, item: QListWidgetItem) -> None:
        # A click on another item has already been reported as a current change; a click on the
        # current one is reported here, so that it can be shown again after something else was.
        before = self._current_before_press
        if before is not None and item is before:
            self.image_selected.emit(before.data(_PATH_ROLE))
