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
        self._prompts: list[str] = []
        self._words: list[str] = []  # embedding names, __wildcards__: completed word by word
        self._word_mode = False
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
        self._prompts = unique
        if not self._word_mode:
            self._model.setStringList(unique)
        if self.popup_visible():
            self.refresh()

    def prompts(self) -> list[str]:
        return list(self._prompts)

    def set_words(self, words: Iterable[str]) -> None:
        """Words to complete where the cursor is (embedding names, ``__wildcard__`` names):
        typing two letters of one offers it, choosing it replaces just that word."""
        self._words = sorted({w for w in words if isinstance(w, str) and w.strip()}, key=str.lower)

    def words(self) -> list[str]:
        return list(self._words)

    def _current_word(self) -> tuple[int, str]:
        """(start, text) of the word being typed: from the last space, comma or bracket."""
        cursor = self._edit.textCursor()
        before = self._edit.toPlainText()[: cursor.position()]
        start = max(before.rfind(c) for c in " \n\t,()[]{}|:") + 1
        return start, before[start:]

    def popup_visible(self) -> bool:
        return self._popup.isVisible()

    def hide_popup(self) -> None:
        self._popup.hide()

    def refresh(self) -> None:
        """Show, update or hide the popup for the text now in the edit: a word of `set_words`
        being typed first, else previous prompts matching the whole text."""
        _, word = self._current_word()
        folded = word.casefold()
        matching = [w for w in self._words if w.casefold().startswith(folded) and w != word]
        if len(word) >= self.MIN_CHARS and matching:
            self._set_mode(words=True)
            self._completer.setCompletionPrefix(word)
            rect = self._edit.cursorRect()
            rect.setWidth(max(200, self._popup.sizeHintForColumn(0) + 24))
            self._completer.complete(rect)
            return
        self._set_mode(words=False)
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

    def _set_mode(self, words: bool) -> None:
        if words == self._word_mode:
            return
        self._word_mode = words
        self._model.setStringList(self._words if words else self._prompts)
        self._completer.setFilterMode(
            Qt.MatchFlag.MatchStartsWith if words else Qt.MatchFlag.MatchContains
        )

    def _accept(self, text: str) -> None:
        if self._word_mode:
            start, word = self._current_word()
            cursor = self._edit.textCursor()
            cursor.setPosition(start)
            cursor.setPosition(start + len(word), cursor.MoveMode.KeepAnchor)
            cursor.insertText(text)
            self._edit.setTextCursor(cursor)
            return
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
