"""The Models dialog's table: one sortable row per library entry and per upscaler, filterable by
words. Library rows carry their entry name in NAME_ROLE, upscaler rows their upscaler name in
UPSCALER_ROLE: the two kinds of name can be the same."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from imagestudio.core.bytesize import format_bytes
from imagestudio.core.models.library import ModelEntry
from imagestudio.core.vocabulary import DETAIL_LABELS, FAMILY_LABELS, SOURCE_LABELS
from imagestudio.gui.dialogs.upscaler_rows import UpscalerRow

COLUMNS = ("Name", "Kind", "Size", "Precision", "Where", "Status")
NAME, KIND, SIZE, PRECISION, WHERE, STATUS = range(len(COLUMNS))
READY = "Ready"
CHECKING = "Checking…"  # an upscaler whose network spandrel has not looked at yet
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole + 2
UPSCALER_ROLE = Qt.ItemDataRole.UserRole + 3


# Byte counts as the command line writes them too (one formatter, `core.bytesize`).
format_size = format_bytes


def kind_text(entry: ModelEntry) -> str:
    """The Kind column: "Starter (built in)", "Stable Diffusion XL LCM", "LoRA"."""
    if entry.ref.builtin:
        return "Starter (built in)"
    if entry.role in ("lora", "embedding", "vae"):
        what = {"lora": "LoRA", "embedding": "Embedding", "vae": "VAE"}[entry.role]
        family = FAMILY_LABELS.get(entry.ref.family) if entry.ref.family != "unknown" else None
        return f"{what} · {family}" if family else what
    if entry.problem and entry.ref.layout == "single_file" and entry.ref.family == "unknown":
        return "—"  # a pickle or a stray file: nothing is known about it
    family = FAMILY_LABELS.get(entry.ref.family, entry.ref.family)
    detail = DETAIL_LABELS.get(entry.detail, entry.detail)
    return f"{family} {detail}" if detail else family


def status_text(entry: ModelEntry) -> str:
    return entry.problem or READY


def upscaler_kind_text(row: UpscalerRow) -> str:
    """The Kind column of an upscaler: "Upscaler · ×4 ESRGAN", or "Upscaler" until known."""
    if row.scale is None:
        return "Upscaler"
    return f"Upscaler · ×{row.scale} {row.architecture}".rstrip()


def upscaler_status_text(row: UpscalerRow) -> str:
    if row.problem:
        return row.problem
    return READY if row.described else CHECKING


class _Item(QTreeWidgetItem):
    """A row that sorts by the value in _SORT_ROLE (sizes as numbers, names without case)."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        tree = self.treeWidget()
        column = tree.sortColumn() if tree is not None else NAME
        mine, theirs = self.data(column, _SORT_ROLE), other.data(column, _SORT_ROLE)
        if mine is None or theirs is None or type(mine) is not type(theirs):
            return super().__lt__(other)
        return mine < theirs


def _entry_item(entry: ModelEntry, dimmed: QPalette) -> _Item:
    where = SOURCE_LABELS.get(entry.ref.source, entry.ref.source)
    values = (
        entry.name,
        kind_text(entry),
        format_size(entry.size_bytes),
        entry.precision if entry.precision != "unknown" else "—",
        where,
        status_text(entry),
    )
    item = _Item(list(values))
    # The built-in starter sorts first by name: it is the one that always works.
    name_key = ("0" if entry.ref.builtin else "1") + entry.name.casefold()
    _set_row(
        item,
        values,
        name_key,
        entry.size_bytes,
        _tooltip(entry.name, entry.ref.path, entry.problem),
    )
    item.setData(NAME, NAME_ROLE, entry.name)
    if entry.problem:
        brush = dimmed.brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        for column in range(len(COLUMNS)):
            item.setForeground(column, brush)
    return item


def _tooltip(name: str, path: object, problem: str | None) -> str:
    return f"{name}\n{path}" + (f"\n\n{problem}" if problem else "")


def _set_row(
    item: _Item, values: tuple[str, ...], name_key: str, size_bytes: int | None, tooltip: str
) -> None:
    """What every row shares: its sort keys (sizes as numbers, names and words without case),
    the size right-aligned, one tooltip on every column."""
    item.setData(NAME, _SORT_ROLE, name_key)
    item.setData(SIZE, _SORT_ROLE, size_bytes)
    for column in (KIND, PRECISION, WHERE, STATUS):
        item.setData(column, _SORT_ROLE, values[column].casefold())
    item.setTextAlignment(SIZE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    for column in range(len(COLUMNS)):
        item.setToolTip(column, tooltip)


def _fill_upscaler_item(item: _Item, row: UpscalerRow, dimmed: QPalette, warning: QIcon) -> None:
    """Write `row` into `item`: when a row is created, and again once spandrel described it."""
    where = SOURCE_LABELS["builtin" if row.builtin else "library"]
    values = (
        row.name,
        upscaler_kind_text(row),
        format_size(row.size_bytes),
        row.precision if row.precision not in ("unknown", "") else "—",
        where,
        upscaler_status_text(row),
    )
    for column, text in enumerate(values):
        item.setText(column, text)
    # Upscalers sort after the models by name: they are another kind of thing.
    name_key = ("20" if row.builtin else "21") + row.name.casefold()
    _set_row(item, values, name_key, row.size_bytes, _tooltip(row.name, row.path, row.problem))
    item.setData(NAME, UPSCALER_ROLE, row.name)
    # filled again once described: the dimming may have to go
    brush = dimmed.brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    for column in range(len(COLUMNS)):
        item.setData(column, Qt.ItemDataRole.ForegroundRole, brush if row.problem else None)
    item.setIcon(STATUS, warning if row.problem else QIcon())


class ModelTable(QTreeWidget):
    """The library as rows: name, kind, size, precision, where, status."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setSortingEnabled(True)
        self.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.setAccessibleName("Models")
        header = self.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header_item = self.headerItem()
        if header_item is not None:
            header_item.setTextAlignment(
                SIZE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )

    def set_entries(
        self, entries: list[ModelEntry], warning: QIcon, upscalers: list[UpscalerRow] | None = None
    ) -> None:
        """Show `entries` and `upscalers` (those with a problem dimmed, with `warning` by their
        status)."""
        self.setSortingEnabled(False)
        self.clear()
        palette = self.palette()
        for entry in entries:
            item = _entry_item(entry, palette)
            if entry.problem:
                item.setIcon(STATUS, warning)
            self.addTopLevelItem(item)
        for row in upscalers or []:
            item = _Item()
            _fill_upscaler_item(item, row, palette, warning)
            self.addTopLevelItem(item)
        self.setSortingEnabled(True)
        self._fit_columns()

    def update_upscaler(self, row: UpscalerRow, warning: QIcon) -> bool:
        """Show what is now known of upscaler `row`; False if it has no row."""
        item = self._upscaler_item(row.name)
        if item is None:
            return False
        self.setSortingEnabled(False)  # re-sorts once below, not once per changed cell
        _fill_upscaler_item(item, row, self.palette(), warning)
        self.setSortingEnabled(True)
        # "Upscaler · ×4 RealESRGAN Compact" is wider than the "Upscaler" the column was fitted
        # to; grow it, but never shrink a column under the user's hands.
        needed = self.fontMetrics().horizontalAdvance(item.text(KIND)) + self._gap() * 2
        if needed > self.columnWidth(KIND):
            self.setColumnWidth(KIND, needed)
        return True

    def _gap(self) -> int:
        return self.fontMetrics().horizontalAdvance("M") * 2

    def _fit_columns(self) -> None:
        metrics = self.fontMetrics()
        gap = self._gap()  # air between a right-aligned size and the next
        for column in (NAME, KIND, SIZE, PRECISION, WHERE):
            self.resizeColumnToContents(column)
            self.setColumnWidth(column, self.columnWidth(column) + gap)
        # Long names (sdxl/some-very-long-checkpoint-v2) must not push the status off screen.
        widest = metrics.horizontalAdvance("M") * 28
        self.setColumnWidth(NAME, min(max(self.columnWidth(NAME), 160), widest))

    def rows(self) -> list[QTreeWidgetItem]:
        items = (self.topLevelItem(row) for row in range(self.topLevelItemCount()))
        return [item for item in items if item is not None]

    def visible_names(self) -> list[str]:
        """Entry names of the library rows the filter shows, in table order (no upscalers)."""
        names = (item.data(NAME, NAME_ROLE) for item in self.rows() if not item.isHidden())
        return [name for name in names if name is not None]

    def visible_upscalers(self) -> list[str]:
        """Names of the upscaler rows the filter shows, in table order."""
        names = (item.data(NAME, UPSCALER_ROLE) for item in self.rows() if not item.isHidden())
        return [name for name in names if name is not None]

    def filter(self, text: str) -> int:
        """Show only rows with every word of `text` (any case); return how many are shown."""
        words = text.casefold().split()
        shown = 0
        for item in self.rows():
            haystack = " ".join(item.text(c) for c in (NAME, KIND, PRECISION, WHERE)).casefold()
            hidden = not all(word in haystack for word in words)
            item.setHidden(hidden)
            shown += not hidden
        current = self.currentItem()
        if current is not None and current.isHidden():
            self.clearSelection()
        return shown

    def select(self, name: str) -> bool:
        for item in self.rows():
            if item.data(NAME, NAME_ROLE) == name and not item.isHidden():
                self.setCurrentItem(item)
                self.scrollToItem(item)
                return True
        return False

    def select_upscaler(self, name: str) -> bool:
        item = self._upscaler_item(name)
        if item is None or item.isHidden():
            return False
        self.setCurrentItem(item)
        self.scrollToItem(item)
        return True

    def selected_name(self) -> str | None:
        """The entry name of the selected library row; None for an upscaler row."""
        items = self.selectedItems()
        return items[0].data(NAME, NAME_ROLE) if items else None

    def selected_upscaler(self) -> str | None:
        items = self.selectedItems()
        return items[0].data(NAME, UPSCALER_ROLE) if items else None

    def _upscaler_item(self, name: str) -> _Item | None:
        for item in self.rows():
            if item.data(NAME, UPSCALER_ROLE) == name and isinstance(item, _Item):
                return item
        return None
