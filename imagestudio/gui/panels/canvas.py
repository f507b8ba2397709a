"""The canvas: the hero area in the centre that shows the live preview or the finished image.

Top to bottom: a dismissable error banner, a small toolbar for the shown result, the mask tools
(in mask mode, see `mask_editor`), the image view (fit or 100%, in a scroll area so actual pixels
can be panned), and the progress row.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import (
    QEvent,
    QMimeData,
    QPoint,
    QSize,
    QStandardPaths,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QDesktopServices,
    QDrag,
    QGuiApplication,
    QIcon,
    QImage,
    QImageReader,
    QKeySequence,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QScrollArea,
    QStackedWidget,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.errors import StorageError
from imagestudio.core.outputs.storage import atomic_write_bytes
from imagestudio.gui.panels.mask_editor import MaskEditor
from imagestudio.gui.widgets.banner import ErrorBanner
from imagestudio.gui.widgets.image_view import ImageView as _ImageView

__all__ = ["DEFAULT_PLACEHOLDER", "ZOOM_MODES", "Canvas", "_ImageView", "format_seconds"]

ZOOM_MODES = ("fit", "100%")
DEFAULT_PLACEHOLDER = "Type a prompt and press Ctrl+Enter"
DRAG_THUMBNAIL = 128


def format_seconds(seconds: float) -> str:
    """A duration for the progress row: '0.8 s', '12 s', '2 min 05 s'."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest:02d} s"


class Canvas(QWidget):
    """The live preview or the finished image, its progress, its actions and error messages.

    The banner is not cleared by showing a new image; the caller decides when an error is stale
    (typically when the next job starts).
    """

    zoom_changed = Signal(str)
    upscale_requested = Signal(str)  # the shown picture's path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._path: str | None = None
        self._is_preview = False
        self._last_result: tuple[QImage, str | None] | None = None
        # The running job's picture size: at 100% its previews are shown that big, so the
        # finished picture lands where the previews were instead of jumping.
        self._expected: tuple[int, int] | None = None
        self._preview_sized = False
        self._zoom = "fit"
        self._save_dir: str | None = None

        self._banner = ErrorBanner(self)
        self._banner.hide()
        self._banner.close_button.clicked.connect(self.clear_error)

        self._build_actions()
        self._toolbar = QToolBar("Image", self)
        self._toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._toolbar.setIconSize(
            QSize(*[self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)] * 2)
        )
        for action in (self.fit_action, self.actual_size_action):
            self._toolbar.addAction(action)
        self._toolbar.addSeparator()
        for action in (
            self.keep_action,
            self.copy_action,
            self.save_action,
            self.show_in_folder_action,
            self.upscale_action,
        ):
            self._toolbar.addAction(action)

        self._placeholder = QLabel(DEFAULT_PLACEHOLDER)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(True)
        self._placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self._view = _ImageView()
        # mask mode (inpainting): its toggle sits with the picture's actions, its tools below
        self.mask_editor = MaskEditor(self._view, self)
        self._toolbar.addSeparator()
        self._toolbar.addAction(self.mask_editor.mask_action)
        self._view.drag_requested.connect(self._start_drag)
        self._view.double_clicked.connect(self._toggle_zoom)
        self._view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._view.customContextMenuRequested.connect(self._show_context_menu)
        self._view.addAction(self.copy_action)  # Ctrl+C while the image has focus
        self._scroll = QScrollArea()
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setWidgetResizable(True)
        self._scroll.setWidget(self._view)

        self._stack = QStackedWidget()
        self._stack.addWidget(self._placeholder)
        self._stack.addWidget(self._scroll)

        self._progress_label = QLabel()
        self._progress_bar = QProgressBar()
        self._progress_bar.setTextVisible(False)
        self._progress_bar.setAccessibleName("Progress")
        self._progress_row = QWidget()
        row = QHBoxLayout(self._progress_row)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self._progress_label)
        row.addWidget(self._progress_bar, 1)
        self._progress_row.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._banner)
        layout.addWidget(self._toolbar)
        layout.addWidget(self.mask_editor.tool_row)
        layout.addWidget(self._stack, 1)
        layout.addWidget(self._progress_row)

        self._apply_zoom()
        self._update_actions()

    def _build_actions(self) -> None:
        self.fit_action = QAction(QIcon.fromTheme(QIcon.ThemeIcon.ZoomFitBest), "Fit", self)
        self.fit_action.setShortcut(QKeySequence("Ctrl+0"))
        self.fit_action.setToolTip("Scale the image to fit the view (Ctrl+0)")
        self.actual_size_action = QAction(QIcon.fromTheme("zoom-original"), "100%", self)
        self.actual_size_action.setShortcut(QKeySequence("Ctrl+1"))
        self.actual_size_action.setToolTip("Show actual pixels; scroll to pan (Ctrl+1)")
        group = QActionGroup(self)
        for action, mode in ((self.fit_action, "fit"), (self.actual_size_action, "100%")):
            action.setCheckable(True)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _checked=False, m=mode: self.set_zoom(m))
            group.addAction(action)
            self.addAction(action)  # the shortcuts work wherever focus is in the window

        self.copy_action = QAction(QIcon.fromTheme(QIcon.ThemeIcon.EditCopy), "Copy image", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.triggered.connect(self.copy_image)
        self.save_action = QAction(
            QIcon.fromTheme(QIcon.ThemeIcon.DocumentSaveAs), "Save as…", self
        )
        self.save_action.setToolTip("Save a copy of this image, with its generation settings")
        self.save_action.triggered.connect(lambda: self.save_as())
        self.show_in_folder_action = QAction(
            QIcon.fromTheme(QIcon.ThemeIcon.FolderOpen), "Show in folder", self
        )
        self.show_in_folder_action.triggered.connect(self.show_in_folder)
        self.upscale_action = QAction(QIcon.fromTheme("zoom-in"), "Upscale…", self)
        self.upscale_action.setToolTip("Enlarge this picture with an upscaler (Real-ESRGAN)")
        self.upscale_action.triggered.connect(self._request_upscale)
        # A cancelled job's picture so far (quality-mode style): shown, and kept on request.
        self.keep_action = QAction(
            QIcon.fromTheme(QIcon.ThemeIcon.DocumentSave), "Keep this picture", self
        )
        self.keep_action.setToolTip(
            "The job was cancelled part-way: save this picture anyway (recorded as partial)"
        )
        self.keep_action.setVisible(False)

    # -- showing images ------------------------------------------------------------------------

    def show_preview(self, image: QImage) -> None:
        """A live step preview: no file behind it, so the file actions are off. Fitted, or at
        100% as big as the picture it becomes (see `set_expected_size`)."""
        self._preview_sized = self._zoom == "100%" and self._expected is not None
        if self._preview_sized and self._expected is not None and not image.isNull():
            width, height = self._expected
            image = image.scaled(
                width,
                height,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self._show(image, None, preview=True)

    def set_expected_size(self, size: tuple[int, int] | None) -> None:
        """The size of the picture the running job makes, when known (None: previews fill the
        view at any zoom)."""
        self._expected = size

    def show_result(self, path: str | os.PathLike[str]) -> None:
        path = os.fspath(path)
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        image = reader.read()
        if image.isNull():
            if not Path(path).is_file():
                self.show_error(f"The image {path} is gone; it may have been moved or deleted.")
            else:
                self.show_error(
                    f"The image {path} could not be read ({reader.errorString()}); "
                    "the file may be damaged or not an image."
                )
            return
        self._show(image, path, preview=False)

    def show_image(self, image: QImage, path: str | None = None) -> None:
        self._show(image, path, preview=False)

    def show_partial(self, image: QImage) -> None:
        """A cancelled job's picture so far: shown with "Keep this picture" (no file yet)."""
        self._show(image, None, preview=False)
        self.keep_action.setVisible(True)
        self.keep_action.setEnabled(True)

    def partial_shown(self) -> bool:
        return self.keep_action.isVisible()

    def drop_preview(self) -> None:
        """A job ended without a picture (cancelled, failed): its last step preview goes, and
        the result shown before it comes back (or the empty state), with its file actions."""
        if not self._is_preview:
            return
        if self._last_result is not None:
            image, path = self._last_result
            self._show(image, path, preview=False)
        else:
            self.clear()

    def clear(self) -> None:
        """Back to the empty state with the placeholder."""
        self.keep_action.setVisible(False)
        self._last_result = None
        self._image = None
        self._path = None
        self._is_preview = False
        self._view.set_pixmap(None)
        self.mask_editor.picture_shown(None, None, preview=False)
        self._stack.setCurrentWidget(self._placeholder)
        self._apply_zoom()
        self._update_actions()

    def _show(self, image: QImage, path: str | None, *, preview: bool) -> None:
        if image is None or image.isNull():
            self.clear()
            return
        self._image = image
        self._path = path
        self._is_preview = preview
        self.keep_action.setVisible(False)  # a partial offer goes with the picture it was for
        if not preview:
            self._last_result = (image, path)
        # QPixmap only here, in the GUI thread; the QImage may have been made on a worker.
        self._view.set_pixmap(QPixmap.fromImage(image))
        self.mask_editor.picture_shown(image, path, preview=preview)
        self._stack.setCurrentWidget(self._scroll)
        self._apply_zoom()
        self._update_actions()

    def current_path(self) -> str | None:
        return self._path

    def current_image(self) -> QImage | None:
        return self._image

    def show_welcome(self, welcome: QWidget) -> None:
        """On a first start, `welcome` in place of the one-line placeholder (until a picture
        shows; an empty canvas later has the line again)."""
        holder = QWidget()
        layout = QVBoxLayout(holder)
        layout.addWidget(welcome, 0, Qt.AlignmentFlag.AlignHCenter)
        self._stack.addWidget(holder)
        self._stack.setCurrentWidget(holder)

    def welcome_shown(self) -> bool:
        return self._stack.currentIndex() >= 2

    def set_placeholder(self, text: str) -> None:
        self._placeholder.setText(text)

    def placeholder_text(self) -> str:
        return self._placeholder.text()

    # -- zoom ----------------------------------------------------------------------------------

    def set_zoom(self, mode: str) -> None:
        if mode not in ZOOM_MODES:
            raise ValueError(f"zoom mode must be one of {', '.join(ZOOM_MODES)}, not {mode!r}")
        changed = mode != self._zoom
        self._zoom = mode
        self._apply_zoom()
        if changed:
            self.zoom_changed.emit(mode)

    def zoom(self) -> str:
        return self._zoom

    def _toggle_zoom(self) -> None:
        if self._image is not None and not self._is_preview and not self.mask_editor.is_active():
            self.set_zoom("100%" if self._zoom == "fit" else "fit")

    def _apply_zoom(self) -> None:
        self.fit_action.setChecked(self._zoom == "fit")
        self.actual_size_action.setChecked(self._zoom == "100%")
        # A 64x64 preview at 100% would be a speck in the middle: previews always fill the view.
        fit = self._zoom == "fit" or (self._is_preview and not self._preview_sized)
        policy = (
            Qt.ScrollBarPolicy.ScrollBarAlwaysOff if fit else Qt.ScrollBarPolicy.ScrollBarAsNeeded
        )
        self._scroll.setHorizontalScrollBarPolicy(policy)
        self._scroll.setVerticalScrollBarPolicy(policy)
        was_fit = self._view.is_fit()
        self._view.set_fit(fit)
        # Resize the view now, as the scroll area would on its next layout pass, so the image
        # rect and the scroll bar ranges are right immediately (and centring has a range).
        self._view.resize(self._scroll.viewport().size().expandedTo(self._view.minimumSize()))
        if was_fit and not fit:
            for bar in (self._scroll.horizontalScrollBar(), self._scroll.verticalScrollBar()):
                bar.setValue((bar.minimum() + bar.maximum()) // 2)

    # -- progress ------------------------------------------------------------------------------

    def set_progress(self, step: int, total: int, elapsed: float, remaining: float | None) -> None:
        parts = [f"step {step}/{total}", format_seconds(elapsed)]
        if remaining is not None:
            parts.append(f"~{format_seconds(remaining)} left")
        self._progress_label.setText(" · ".join(parts))
        if total > 0:
            self._progress_bar.setRange(0, total)
            self._progress_bar.setValue(max(0, min(step, total)))
        else:
            self._progress_bar.setRange(0, 0)
        self._progress_row.show()

    def set_status(self, text: str) -> None:
        """A phase without steps ("Loading model…"): the bar shows busy, not a fraction."""
        self._progress_label.setText(text)
        self._progress_bar.setRange(0, 0)
        self._progress_row.show()

    def clear_progress(self) -> None:
        self._progress_row.hide()
        self._progress_label.clear()
        self._progress_bar.setRange(0, 1)
        self._progress_bar.reset()

    def progress_text(self) -> str:
        """The progress row's text; empty when idle."""
        return self._progress_label.text() if not self._progress_row.isHidden() else ""

    # -- errors --------------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        self._banner.message.setText(text)
        self._banner.show()

    def clear_error(self) -> None:
        self._banner.hide()
        self._banner.message.clear()

    def error_text(self) -> str:
        return self._banner.message.text() if not self._banner.isHidden() else ""

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (
            QEvent.Type.PaletteChange,
            QEvent.Type.ApplicationPaletteChange,
            QEvent.Type.StyleChange,
        ):
            self._banner.update_look(self.palette())

    # -- actions on the shown result -----------------------------------------------------------

    def _has_file(self) -> bool:
        return self._path is not None and self._image is not None and not self._is_preview

    def _update_actions(self) -> None:
        has_file = self._has_file()
        for action in (
            self.copy_action,
            self.save_action,
            self.show_in_folder_action,
            self.upscale_action,
        ):
            action.setEnabled(has_file)
        self._view.draggable = has_file

    def _request_upscale(self) -> None:
        if self._has_file() and self._path is not None:
            self.upscale_requested.emit(str(self._path))

    def copy_image(self) -> None:
        if self._has_file() and self._image is not None:
            QGuiApplication.clipboard().setImage(self._image)

    def save_as(self, target: str | None = None) -> bool:
        """Copy the shown file to `target` (asked for when None); True when a copy was written.

        The file's bytes are copied rather than the image re-encoded, so the generation
        settings in its metadata chunks travel with it.
        """
        if not self._has_file() or self._path is None:
            return False
        source = Path(self._path)
        if target is None:
            suffix = source.suffix.lstrip(".").lower() or "png"
            start = Path(self._default_save_dir()) / source.name
            target, _ = QFileDialog.getSaveFileName(
                self,
                "Save image as",
                str(start),
                f"{suffix.upper()} image (*.{suffix});;All files (*)",
            )
            if not target:
                return False
        destination = Path(target)
        if not destination.parent.is_dir():
            self.show_error(
                f"Could not save the image: {destination.parent} is not an existing folder. "
                "Choose another folder."
            )
            return False
        try:
            data = source.read_bytes()
        except OSError as exc:
            self.show_error(
                f"Could not read {source} ({exc.strerror or exc}); "
                "it may have been moved or deleted."
            )
            return False
        try:
            # The file dialog has already asked about replacing an existing file.
            atomic_write_bytes(destination, data, overwrite=True)
        except (StorageError, OSError) as exc:
            self.show_error(f"Could not save the image. {exc}")
            return False
        self._save_dir = str(destination.parent)
        return True

    def _default_save_dir(self) -> str:
        if self._save_dir:
            return self._save_dir
        pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
        if pictures and Path(pictures).is_dir():
            return pictures
        return str(Path(self._path).parent) if self._path else str(Path.home())

    def show_in_folder(self) -> None:
        if not self._has_file() or self._path is None:
            return
        folder = Path(self._path).parent
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_error(f"Could not open the folder {folder}.")

    def _context_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.addAction(self.fit_action)
        menu.addAction(self.actual_size_action)
        menu.addSeparator()
        menu.addAction(self.copy_action)
        menu.addAction(self.save_action)
        menu.addAction(self.show_in_folder_action)
        menu.addSeparator()
        menu.addAction(self.upscale_action)
        return menu

    def _show_context_menu(self, pos: QPoint) -> None:
        menu = self._context_menu()
        menu.exec(self._view.mapToGlobal(pos))
        menu.deleteLater()

    # -- drag out ------------------------------------------------------------------------------

    def _drag_mime(self) -> QMimeData | None:
        """The file's URL (file managers, browsers, editors) and the pixels (paint apps)."""
        if not self._has_file() or self._path is None or self._image is None:
            return None
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(Path(self._path).resolve()))])
        mime.setImageData(self._image)
        return mime

    def _start_drag(self) -> None:
        mime = self._drag_mime()
        if mime is None or self._image is None:
            return
        drag = QDrag(self)
        drag.setMimeData(mime)
        thumbnail = QPixmap.fromImage(
            self._image.scaled(
                DRAG_THUMBNAIL,
                DRAG_THUMBNAIL,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        drag.setPixmap(thumbnail)
        drag.setHotSpot(QPoint(thumbnail.width() // 2, thumbnail.height() // 2))
        drag.exec(Qt.DropAction.CopyAction)
