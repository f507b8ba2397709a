"""The history column: past jobs, newest first, searchable, one click from being loaded again."""

from __future__ import annotations

import html
import time
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QDateTime,
    QEvent,
    QLocale,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QGuiApplication,
    QIcon,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.errors import HistoryError
from imagestudio.core.outputs.history import HistoryStore, JobRecord
from imagestudio.gui.images import load_thumbnail

# Rows shown at most. Older entries stay in the database and are found by searching.
HISTORY_LIMIT = 200
THUMBNAIL_SIZE = 64
SEARCH_DELAY_MS = 200
# Thumbnails kept in memory; each is a 64 px pixmap (~16 KB), so this bounds the cache to a few MB.
THUMBNAIL_CACHE_SIZE = 600
# Long prompts are cut before display; the view elides the rest to the column's width.
_PROMPT_DISPLAY_CHARS = 200

EMPTY_TEXT = "No history yet. Type a prompt and press Ctrl+Enter."
NO_FAVOURITES_TEXT = "No favourites yet. Right-click an entry and choose Favourite."
STAR = "\N{BLACK STAR}"
_DOT = " \N{MIDDLE DOT} "


def format_age(seconds: float, created_at: float | None = None) -> str:
    """How long ago something happened, in words: "just now", "2 min ago", "3 h ago"...

    Older than a week, the date (in the user's locale) is clearer than a count of days; it needs
    `created_at`, the epoch time of the event.
    """
    if seconds < 45:  # also clock skew between processes: never "-3 min ago"
        return "just now"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{max(1, minutes)} min ago"
    hours = int(seconds // 3600)
    if hours < 24:
        return f"{hours} h ago"
    days = int(seconds // 86400)
    if days == 1:
        return "yesterday"
    if days < 7 or created_at is None:
        return f"{days} days ago"
    date = QDateTime.fromSecsSinceEpoch(int(created_at)).date()
    return QLocale().toString(date, QLocale.FormatType.ShortFormat)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def title_line(record: JobRecord) -> str:
    """The first line of an entry: the prompt on one line, starred when a favourite."""
    prompt = _one_line(record.prompt) or "(no prompt)"
    if len(prompt) > _PROMPT_DISPLAY_CHARS:
        prompt = prompt[: _PROMPT_DISPLAY_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return f"{STAR} {prompt}" if record.favourite else prompt


def ran_on(record: JobRecord) -> str:
    """The ComfyUI server a job ran on ("" for this computer): its request names it."""
    backend = record.request.get("backend") if isinstance(record.request, dict) else None
    return backend if isinstance(backend, str) and backend not in ("", "local", "auto") else ""


def detail_line(record: JobRecord, now: float | None = None) -> str:
    """The lines under the prompt: the settings that matter most, or how the job ended, and
    when."""
    now = time.time() if now is None else now
    age = format_age(now - record.created_at, record.created_at)
    if record.status == "failed":
        message = record.message.strip().splitlines()[0] if record.message.strip() else ""
        parts = [f"failed: {message}" if message else "failed"]
    elif record.status == "cancelled":
        parts = ["cancelled"]
    else:
        # Two lines, so that a 10-digit seed is not cut off ("seed 3…") in a narrow list.
        settings = []
        if record.steps is not None:
            settings.append(f"{record.steps} steps")
        if record.guidance is not None:
            settings.append(f"CFG {record.guidance:g}")
        lines = [_DOT.join([*settings, age])]
        second = [f"seed {record.seed}"] if record.seed is not None else []
        if ran_on(record):
            second.append(f"on {ran_on(record)}")
        if second:
            lines.append(_DOT.join(second))
        return "\n".join(lines)
    if ran_on(record):
        parts.append(f"on {ran_on(record)}")
    return _DOT.join([*parts, age])


def _tooltip(record: JobRecord) -> str:
    # Rich text so that Qt wraps a long prompt instead of making a tooltip as wide as the screen;
    # escaped so that a prompt with "<" in it shows as typed.
    def paragraph(text: str) -> str:
        return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"

    parts = [paragraph(record.prompt or "(no prompt)")]
    if record.negative_prompt:
        parts.append(paragraph(f"Negative: {record.negative_prompt}"))
    if ran_on(record):
        parts.append(paragraph(f"Ran on the ComfyUI server {ran_on(record)}"))
    if record.status == "failed" and record.message:
        parts.append(paragraph(f"Failed: {record.message}"))
    return "".join(parts)


def _first_existing_output(record: JobRecord) -> Path | None:
    for output in record.outputs:
        path = Path(output)
        if path.is_file():
            return path
    return None


def status_icon(palette: QPalette, symbol: str) -> QIcon:
    """A quiet tile in the palette's own colours with `symbol` on it ("×" cancelled, "!"
    failed, "" no picture): no white file icon glaring from a dark list."""
    pixmap = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(palette.color(QPalette.ColorRole.Mid))
    painter.setBrush(palette.color(QPalette.ColorRole.AlternateBase))
    painter.drawRoundedRect(4, 4, THUMBNAIL_SIZE - 8, THUMBNAIL_SIZE - 8, 6, 6)
    if symbol:
        font = painter.font()
        font.setPixelSize(THUMBNAIL_SIZE // 2)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, symbol)
    painter.end()
    return QIcon(pixmap)


VARIATIONS = 4  # how many pictures "Vary" queues


class _IconProvider:
    """Thumbnails of first outputs, cached by path; a quiet status tile otherwise."""

    def __init__(self, palette: QPalette) -> None:
        self.set_palette(palette)
        # Failures are cached too (as None): the view asks on every repaint, and a damaged file
        # should not be decoded again each time.
        self._cache: dict[str, QIcon | None] = {}

    def set_palette(self, palette: QPalette) -> None:
        self.placeholder = status_icon(palette, "")
        self.by_status = {
            "cancelled": status_icon(palette, "×"),
            "failed": status_icon(palette, "!"),
        }

    def __call__(self, record: JobRecord) -> QIcon:
        if record.status == "failed" or not record.outputs:
            return self.by_status.get(record.status, self.placeholder)
        path = record.outputs[0]
        if path not in self._cache:
            if len(self._cache) >= THUMBNAIL_CACHE_SIZE:
                del self._cache[next(iter(self._cache))]  # the oldest entry
            image = load_thumbnail(path, THUMBNAIL_SIZE)
            self._cache[path] = None if image.isNull() else QIcon(QPixmap.fromImage(image))
        icon = self._cache[path]
        return self.placeholder if icon is None else icon


class _HistoryModel(QAbstractListModel):
    """The shown records. Thumbnails are asked for by the view only for rows it paints."""

    RecordRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, icon_for: _IconProvider, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[JobRecord] = []
        self._icon_for = icon_for

    def set_records(self, records: list[JobRecord]) -> None:
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def records(self) -> list[JobRecord]:
        return list(self._records)

    def record(self, index: QModelIndex | QPersistentModelIndex) -> JobRecord | None:
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        return self._records[index.row()]

    def row_of(self, job_id: int | None) -> int:
        for row, record in enumerate(self._records):
            if record.id == job_id:
                return row
        return -1

    def icons_changed(self) -> None:
        if self._records:
            self.dataChanged.emit(
                self.index(0),
                self.index(len(self._records) - 1),
                [Qt.ItemDataRole.DecorationRole],
            )

    def ages_changed(self) -> None:
        """Repaint the "n min ago" texts (they are computed when painted)."""
        if self._records:
            self.dataChanged.emit(
                self.index(0), self.index(len(self._records) - 1), [Qt.ItemDataRole.DisplayRole]
            )

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        record = self.record(index)
        if record is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return f"{title_line(record)}\n{detail_line(record)}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon_for(record)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(record)
        if role == self.RecordRole:
            return record
        return None


class _HistoryView(QListView):
    """A list view that reports Enter and Delete on the current entry."""

    return_pressed = Signal(QModelIndex)
    delete_pressed = Signal(QModelIndex)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        index = self.currentIndex()
        if index.isValid():
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.return_pressed.emit(index)
                event.accept()
                return
            if event.key() == Qt.Key.Key_Delete or event.matches(QKeySequence.StandardKey.Delete):
                self.delete_pressed.emit(index)
                event.accept()
                return
        super().keyPressEvent(event)


class HistoryPanel(QWidget):
    """The right-hand column: every finished job, most recent first.

    A click (or Enter) asks for the job's settings to be loaded into the form; a double-click
    asks for it to be run again. Because a double-click starts with a click, it emits
    `load_requested` first, then `rerun_requested`.

    The panel does not watch the database: the window calls `refresh()` when a job is recorded.
    """

    load_requested = Signal(object)  # JobRecord
    rerun_requested = Signal(object)  # JobRecord
    vary_requested = Signal(object)  # JobRecord
    upscale_requested = Signal(str)  # a picture's path

    def __init__(self, store: HistoryStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._icons = _IconProvider(self.palette())
        self._model = _HistoryModel(self._icons, self)

        title = self.title_label = QLabel("History")  # hidden when a dock title says it already
        font = title.font()
        font.setBold(True)
        title.setFont(font)

        self._search = QLineEdit()
        self._search.setObjectName("historySearch")
        self._search.setPlaceholderText("Search prompts")
        self._search.setClearButtonEnabled(True)
        self._search.setToolTip("Find past jobs by words in their prompt or negative prompt")

        self._favourites = QCheckBox("Favourites only")
        self._favourites.setObjectName("historyFavouritesOnly")
        # Cancelled and failed jobs made no picture: out of the way unless asked for.
        self._show_all = QCheckBox("Show cancelled and failed")
        self._show_all.setObjectName("historyShowAll")
        self._show_all.setToolTip("Also list jobs that were cancelled or failed (no picture)")

        self._view = _HistoryView()
        self._view.setObjectName("historyList")
        self._view.setModel(self._model)
        self._view.setViewMode(QListView.ViewMode.ListMode)
        self._view.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self._view.setUniformItemSizes(True)
        self._view.setSpacing(2)
        self._view.setWordWrap(False)
        self._view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

        self._message = QLabel()
        self._message.setObjectName("historyMessage")
        self._message.setTextFormat(Qt.TextFormat.PlainText)  # search text and errors as typed
        self._message.setWordWrap(True)
        self._message.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self._message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        header = QHBoxLayout()
        header.addWidget(title)
        header.addWidget(self._search, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self._favourites)
        layout.addWidget(self._show_all)
        layout.addWidget(self._message)
        layout.addWidget(self._view, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self._search.textChanged.connect(self._search_timer.start)
        self._search.returnPressed.connect(self.refresh)
        self._favourites.toggled.connect(self.refresh)
        self._show_all.toggled.connect(self.refresh)

        self._view.clicked.connect(self._load)
        self._view.return_pressed.connect(self._load)
        self._view.doubleClicked.connect(self._rerun)
        self._view.delete_pressed.connect(self._delete_index)
        self._view.customContextMenuRequested.connect(self._show_context_menu)

        # "2 min ago" goes stale; repainting the texts once a minute keeps them honest.
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(60_000)
        self._age_timer.timeout.connect(self._model.ages_changed)
        self._age_timer.start()

        self.refresh()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the theme changed: retint the tiles
            self._icons.set_palette(self.palette())
            self._model.icons_changed()

    def set_show_all(self, show: bool) -> None:
        """List cancelled and failed jobs too (or not)."""
        self._show_all.setChecked(show)

    # public API --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Query the store again with the current search text and favourites filter."""
        self._refresh()

    def records(self) -> list[JobRecord]:
        """The entries shown now, in order."""
        return self._model.records()

    def search_text(self) -> str:
        return self._search.text()

    def set_search_text(self, text: str) -> None:
        """Set the search field and show its results at once (no typing delay)."""
        self._search.setText(text)
        self.refresh()

    def build_context_menu(self, record: JobRecord) -> QMenu:
        """The context menu for one entry; the caller owns the menu and should delete it."""
        menu = QMenu(self)
        load = menu.addAction("Load settings")
        load.setToolTip("Put this job's prompt and settings into the form")
        load.triggered.connect(lambda: self.load_requested.emit(record))
        rerun = menu.addAction("Re-run")
        rerun.setToolTip("Run this job again with the same settings and seed")
        rerun.triggered.connect(lambda: self.rerun_requested.emit(record))
        if record.kind == "generate" and not record.init_image:
            vary = menu.addAction(f"Vary ({VARIATIONS} variations)")
            vary.setToolTip(
                "Queue pictures close to this one: the same seed, each nudged toward another "
                "seed (A1111's variation seed)"
            )
            vary.triggered.connect(lambda: self.vary_requested.emit(record))
        menu.addSeparator()
        copy = menu.addAction("Copy prompt")
        copy.setEnabled(bool(record.prompt))
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(record.prompt))
        favourite = menu.addAction("Unfavourite" if record.favourite else "Favourite")
        favourite.triggered.connect(lambda: self._set_favourite(record, not record.favourite))
        output = _first_existing_output(record)
        if output is not None:
            upscale = menu.addAction("Upscale…")
            upscale.setToolTip("Enlarge this picture with an upscaler (Real-ESRGAN)")
            upscale.triggered.connect(lambda: self.upscale_requested.emit(str(output)))
            show = menu.addAction("Show file in folder")
            show.setToolTip(str(output))
            show.triggered.connect(lambda: self._show_folder(output))
        menu.addSeparator()
        delete = menu.addAction("Delete from history")
        delete.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutVisibleInContextMenu(True)
        delete.setToolTip(
            "Removes the entry from the history at once; its image files stay on disk"
        )
        delete.triggered.connect(lambda: self._delete(record))
        menu.setToolTipsVisible(True)
        return menu

    # internals ---------------------------------------------------------------------------------

    def _refresh(self, fallback_row: int | None = None) -> None:
        """Re-query, keeping the current entry selected if it is still shown.

        `fallback_row` is selected instead when the current entry is gone (after a delete, so
        that pressing Delete again goes on down the list).
        """
        self._search_timer.stop()
        current = self._model.record(self._view.currentIndex())
        before = self._model.records()
        newest_before = before[0].id if before else None
        text = self._search.text()
        favourites_only = self._favourites.isChecked()
        done_only = not self._show_all.isChecked()
        try:
            if text.strip():
                records = self._store.search(
                    text, limit=HISTORY_LIMIT, favourites_only=favourites_only, done_only=done_only
                )
            else:
                records = self._store.recent(
                    limit=HISTORY_LIMIT, favourites_only=favourites_only, done_only=done_only
                )
        except HistoryError as exc:
            self._model.set_records([])
            self._view.hide()
            self._show_message(str(exc))
            return
        self._model.set_records(records)
        self._view.setVisible(bool(records))
        row = self._model.row_of(current.id) if current is not None else -1
        if row < 0 and fallback_row is not None and records:
            row = min(fallback_row, len(records) - 1)
        if row >= 0:
            self._view.setCurrentIndex(self._model.index(row))
        if records and records[0].id != newest_before:
            # a new result came in: it shows at the top, even while an older entry stays the
            # selected one (selecting it had scrolled the list down to it)
            self._view.scrollToTop()
        self._show_message("" if records else self._empty_text(text, favourites_only))

    @staticmethod
    def _empty_text(text: str, favourites_only: bool) -> str:
        shown = _one_line(text)
        if shown:
            quoted = f"\N{LEFT DOUBLE QUOTATION MARK}{shown}\N{RIGHT DOUBLE QUOTATION MARK}"
            if favourites_only:
                return f"No favourites match {quoted}."
            return f"Nothing matches {quoted}."
        return NO_FAVOURITES_TEXT if favourites_only else EMPTY_TEXT

    def _show_message(self, text: str) -> None:
        self._message.setText(text)
        self._message.setVisible(bool(text))

    def _load(self, index: QModelIndex) -> None:
        record = self._model.record(index)
        if record is not None:
            self.load_requested.emit(record)

    def _rerun(self, index: QModelIndex) -> None:
        record = self._model.record(index)
        if record is not None:
            self.rerun_requested.emit(record)

    def _delete_index(self, index: QModelIndex) -> None:
        record = self._model.record(index)
        if record is not None:
            self._delete(record)

    def _delete(self, record: JobRecord) -> None:
        if record.id is None:
            return
        row = self._model.row_of(record.id)
        try:
            self._store.delete(record.id)
        except HistoryError as exc:
            self._show_message(str(exc))
            return
        self._refresh(fallback_row=row if row >= 0 else None)

    def _set_favourite(self, record: JobRecord, favourite: bool) -> None:
        if record.id is None:
            return
        try:
            self._store.set_favourite(record.id, favourite)
        except HistoryError as exc:
            self._show_message(str(exc))
            return
        self._refresh()

    def _show_folder(self, path: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))

    def _show_context_menu(self, pos: QPoint) -> None:
        record = self._model.record(self._view.indexAt(pos))
        if record is None:
            return
        menu = self.build_context_menu(record)
        try:
            menu.exec(self._view.viewport().mapToGlobal(pos))
        finally:
            menu.deleteLater()
