"""The Models dialog's table: one sortable row per library entry, filterable by words."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from imagestudio.core.bytesize import format_bytes
from imagestudio.core.models.library import ModelEntry
from imagestudio.core.vocabulary import DETAIL_LABELS, FAMILY_LABELS, SOURCE_LABELS

COLUMNS = ("Name", "Kind", "Size", "Precision", "Where", "Status")
NAME, KIND, SIZE, PRECISION, WHERE, STATUS = range(len(COLUMNS))
READY = "Ready"
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROLE = Qt.ItemDataRole.UserRole + 2


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
    item.setData(NAME, _SORT_ROLE, ("0" if entry.ref.builtin else "1") + entry.name.casefold())
    item.setData(SIZE, _SORT_ROLE, entry.size_bytes)
    for column in (KIND, PRECISION, WHERE, STATUS):
        item.setData(column, _SORT_ROLE, values[column].casefold())
    item.setData(NAME, NAME_ROLE, entry.name)
    item.setTextAlignment(SIZE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    tooltip = f"{entry.name}\n{entry.ref.path}"
    if entry.problem:
        tooltip += f"\n\n{entry.problem}"
        brush = dimmed.brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        for column in range(len(COLUMNS)):
            item.setForeground(column, brush)
    for column in range(len(COLUMNS)):
        item.setToolTip(column, tooltip)
    return item


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

    def set_entries(self, entries: list[ModelEntry], warning: QIcon) -> None:
        """Show `entries` (those with a problem dimmed, with `warning` by their status)."""
        self.setSortingEnabled(False)
        self.clear()
        palette = self.palette()
        for entry in entries:
            item = _entry_item(entry, palette)
            if entry.problem:
                item.setIcon(STATUS, warning)
            self.addTopLevelItem(item)
        self.setSortingEnabled(True)
        self._fit_columns()

    def _fit_columns(self) -> None:
        metrics = self.fontMetrics()
        gap = metrics.horizontalAdvance("M") * 2  # air between a right-aligned size and the next
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
        """Entry names of the rows the filter shows, in table order."""
        return [item.data(NAME, NAME_ROLE) for item in self.rows() if not item.isHidden()]

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

    def selected_name(self) -> str | None:
        items = self.selectedItems()
        return items[0].data(NAME, NAME_ROLE) if items else None
