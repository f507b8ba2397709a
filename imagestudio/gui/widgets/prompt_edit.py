"""The prompt box: Tab moves focus, Ctrl+Enter submits, previous prompts pop up while typing."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QMimeData, QObject, QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QCompleter, QFrame, QPlainTextEdit, QWidget

_GENERATE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def key_text(sequence: str) -> str:
    """A shortcut as the platform writes it (Ctrl+Enter here, ⌘↩ on macOS)."""
    return QKeySequence(sequence).toString(QKeySequence.SequenceFormat.NativeText)


def is_generate_key(event: QKeyEvent) -> bool:
    # The keypad's Enter carries KeypadModifier too; it should work like Return.
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return event.key() in _GENERATE_KEYS and modifiers == Qt.KeyboardModifier.ControlModifier


def is_cancel_key(event: QKeyEvent) -> bool:
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return event.key() == Qt.Key.Key_Escape and modifiers == Qt.KeyboardModifier.NoModifier


class PromptSuggestions(QObject):
    """Offers previous prompts in a popup while the user types in a `QPlainTextEdit`.

    The whole text is the completion prefix, matched anywhere in a previous prompt and in any
    case; choosing a suggestion replaces the text. The popup only opens on typing, never when the
    text is set by code (loading a history entry must not pop anything up).
    """

    MIN_CHARS = 2

    def __init__(self, edit: QPlainTextEdit) -> None:
        super().__init__(edit)
        self._edit = edit
        self._model = QStringListModel(self)
        self._completer = QCompleter(self._model, self)
        self._completer.setWidget(edit)
        self._completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self._completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setMaxVisibleItems(8)
        popup = self._completer.popup()
        assert popup is not None  # a completer always has its popup view
        self._popup: QAbstractItemView = popup
        self._popup.setAccessibleName("Prompt suggestions")
        # Fusion draws the completer's list without a border: over the form it read as loose
        # text. A plain frame sets it apart, in the palette's own colours.
        if isinstance(self._popup, QFrame):
            self._popup.setFrameShape(QFrame.Shape.Box)
            self._popup.setLineWidth(1)
        self._completer.activated[str].connect(self._accept)  # type: ignore[index]

    def completer(self) -> QCompleter:
        return self._completer

    def set_prompts(self, prompts: Iterable[str]) -> None:
        unique: list[str] = []
        seen: set[str] = set()
        for prompt in prompts:
            if isinstance(prompt, str) and prompt.strip() and prompt not in seen:
                seen.add(prompt)
                unique.append(prompt)
        self._model.setStringList(unique)
        if self.popup_visible():
            self.refresh()

    def prompts(self) -> list[str]:
        return self._model.stringList()

    def popup_visible(self) -> bool:
        return self._popup.isVisible()

    def hide_popup(self) -> None:
        self._popup.hide()

    def refresh(self) -> None:
        """Show, update or hide the popup for the text now in the edit."""
        text = self._edit.toPlainText().strip()
        if len(text) < self.MIN_CHARS:
            self.hide_popup()
            return
        self._completer.setCompletionPrefix(text)
        count = self._completer.completionCount()
        if count == 0 or (count == 1 and self._completer.currentCompletion() == text):
            self.hide_popup()
            return
        rect = self._edit.cursorRect()
        rect.setWidth(max(self._edit.viewport().width(), 200))
        self._completer.complete(rect)

    def _accept(self, text: str) -> None:
        self._edit.setPlainText(text)
        cursor = self._edit.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self._edit.setTextCursor(cursor)


class PromptEdit(QPlainTextEdit):
    """A prompt box: Tab moves focus, Ctrl+Enter submits, suggestions pop up while typing."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.suggestions: PromptSuggestions | None = None

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        # A dragged file should reach the window (which loads an image's settings), not paste
        # its path into the prompt.
        if source.hasUrls() and any(url.isLocalFile() for url in source.urls()):
            return False
        return super().canInsertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Handled here rather than left to the panel: with the suggestion popup open, the
        # completer hands keys straight to this widget and they never reach the panel.
        if is_generate_key(event):
            if self.suggestions is not None:
                self.suggestions.hide_popup()
            event.accept()
            self.submitted.emit()
            return
        popup_open = self.suggestions is not None and self.suggestions.popup_visible()
        if popup_open and event.key() in (
            Qt.Key.Key_Return,
            Qt.Key.Key_Enter,
            Qt.Key.Key_Escape,
            Qt.Key.Key_Tab,
            Qt.Key.Key_Backtab,
        ):
            # Let the completer choose (Enter/Tab) or close (Esc) the popup.
            event.ignore()
            return
        super().keyPressEvent(event)
        typed = bool(event.text()) and event.text().isprintable()
        erased = event.key() in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete)
        if self.suggestions is not None and (typed or erased):
            self.suggestions.refresh()
