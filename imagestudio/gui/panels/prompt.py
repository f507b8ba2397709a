"""The "Generate" panel: the form an artist fills in to ask for images.

The panel only turns widgets into a `GenerationRequest` and back; validation lives in the core, so
the window shows the core's message as is. Nothing here imports torch or diffusers.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QMimeData, QObject, QStringListModel, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QPalette,
    QPixmap,
    QValidator,
)
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.generation.schedulers import canonical_scheduler_name, scheduler_names
from imagestudio.core.requests import (
    MAX_COUNT,
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_STEPS,
    GenerationRequest,
)
from imagestudio.gui.images import image_path_from_mime, image_suffixes, load_thumbnail
from imagestudio.gui.panels.loras import LoraList

if TYPE_CHECKING:
    from imagestudio.core.outcomes import JobOutcome
    from imagestudio.core.outputs.metadata import ImageSettings

__all__ = ["ImageDropArea", "PromptPanel", "PromptSuggestions", "image_path_from_mime"]

FORM_STATE_VERSION = 1

MIN_SPIN_SIZE = 64
MAX_SPIN_SIZE = 4096

SIZE_DEFAULT = "default"
SIZE_CUSTOM = "custom"
# (width, height, tooltip); the keys of the size combo are "WxH".
SIZE_PRESETS: tuple[tuple[int, int, str], ...] = (
    (512, 512, "Square; the native size of Stable Diffusion 1.5 models"),
    (768, 768, "Square; the native size of Stable Diffusion 2 (768) models"),
    (1024, 1024, "Square; the native size of SDXL models"),
    (512, 768, "Portrait for SD 1.5 models"),
    (768, 512, "Landscape for SD 1.5 models"),
    (832, 1216, "Portrait for SDXL models"),
    (1216, 832, "Landscape for SDXL models"),
)

_VALUE_ROLE = Qt.ItemDataRole.UserRole
_OTHER_ROLE = Qt.ItemDataRole.UserRole + 1
OTHER_FOLDER_TEXT = "Other folder…"

_GENERATE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def _key_text(sequence: str) -> str:
    """A shortcut as the platform writes it (Ctrl+Enter here, ⌘↩ on macOS)."""
    return QKeySequence(sequence).toString(QKeySequence.SequenceFormat.NativeText)


def _is_generate_key(event: QKeyEvent) -> bool:
    # The keypad's Enter carries KeypadModifier too; it should work like Return.
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return event.key() in _GENERATE_KEYS and modifiers == Qt.KeyboardModifier.ControlModifier


def _is_cancel_key(event: QKeyEvent) -> bool:
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return event.key() == Qt.Key.Key_Escape and modifiers == Qt.KeyboardModifier.NoModifier


def _size_key(width: int, height: int) -> str:
    return f"{width}x{height}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


class _SeedValidator(QValidator):
    """Digits only, at most MAX_SEED; empty is fine (it means a random seed)."""

    def validate(self, text: str, pos: int) -> object:
        stripped = text.strip()
        if not stripped:
            return QValidator.State.Acceptable, text, pos
        if not (stripped.isascii() and stripped.isdigit()) or int(stripped) > MAX_SEED:
            return QValidator.State.Invalid, text, pos
        return QValidator.State.Acceptable, text, pos


# --------------------------------------------------------------------------------------------
# Prompt editing and suggestions


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
        self._completer.popup().setAccessibleName("Prompt suggestions")
        self._completer.activated[str].connect(self._accept)

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
        return self._completer.popup().isVisible()

    def hide_popup(self) -> None:
        self._completer.popup().hide()

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


class _PromptEdit(QPlainTextEdit):
    """A prompt box: Tab moves focus, Ctrl+Enter submits, suggestions pop up while typing."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.suggestions: PromptSuggestions | None = None

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 (Qt override)
        # A dragged file should reach the window (which loads an image's settings), not paste
        # its path into the prompt.
        if source.hasUrls() and any(url.isLocalFile() for url in source.urls()):
            return False
        return super().canInsertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        # Handled here rather than left to the panel: with the suggestion popup open, the
        # completer hands keys straight to this widget and they never reach the panel.
        if _is_generate_key(event):
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


# --------------------------------------------------------------------------------------------
# Init image


class ImageDropArea(QFrame):
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
        self.setMinimumHeight(self.THUMBNAIL_SIZE // 2 + 24)
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

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        # Disabled (img2img off), the area lets drops through to the group box around it.
        if event.type() == QEvent.Type.EnabledChange:
            self.setAcceptDrops(self.isEnabled())
        super().changeEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if image_path_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 (Qt override)
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        if not self.drop_mime_data(event.mimeData()):
            event.ignore()
            return
        event.acceptProposedAction()

    def drop_mime_data(self, mime: QMimeData) -> bool:
        """Take the first image file in `mime`; False when there is none."""
        path = image_path_from_mime(mime)
        if path is None:
            return False
        self.set_path(path)
        self.image_dropped.emit(self._path or "")
        return True


class _ImageGroupBox(QGroupBox):
    """The img2img group. It takes image drops too, so that dropping an image on it while it
    is unticked (its children, the drop area included, are disabled then) turns it on."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.drop_area: ImageDropArea | None = None
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self.drop_area is not None and image_path_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 (Qt override)
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        if self.drop_area is not None and self.drop_area.drop_mime_data(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()


# --------------------------------------------------------------------------------------------
# The panel


class PromptPanel(QWidget):
    """The left "Generate" panel: prompt, model, size, sampling settings and img2img."""

    generate_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("PromptPanel")
        self._models: list[tuple[str, str]] = []
        # Folders picked with "Other folder…" (or loaded from history) survive set_models().
        self._extra_models: list[tuple[str, str]] = []
        self._chosen_model = ""
        self._last_seed: int | None = None
        self._native_sizes: dict[str, int] = {}  # model name -> native picture size
        self._build_widgets()
        self._build_layout()
        self._connect()
        self._set_tab_order()
        self._rebuild_model_combo("")
        self._on_size_changed()
        self._on_strength_changed(self.strength_slider.value())
        self.set_busy(False, 0)

    # -- construction -----------------------------------------------------------------------

    def _build_widgets(self) -> None:
        generate_keys = _key_text("Ctrl+Enter")

        self.prompt_edit = _PromptEdit(self)
        self.prompt_edit.setObjectName("prompt_edit")
        self.prompt_edit.setPlaceholderText(f"Describe the image… ({generate_keys} to generate)")
        self.prompt_edit.setAccessibleName("Prompt")
        self.prompt_edit.setToolTip(
            f"What the image should show. {generate_keys} generates; previous prompts are "
            "suggested as you type."
        )
        self.prompt_edit.setMinimumHeight(60)
        self.prompt_edit.suggestions = PromptSuggestions(self.prompt_edit)

        self.negative_edit = _PromptEdit(self)
        self.negative_edit.setObjectName("negative_edit")
        self.negative_edit.setPlaceholderText("What to avoid, e.g. blurry, text")
        self.negative_edit.setAccessibleName("Negative prompt")
        self.negative_edit.setToolTip("What the image should not show (negative prompt).")
        line = self.negative_edit.fontMetrics().lineSpacing()
        self.negative_edit.setMinimumHeight(2 * line + 12)
        self.negative_edit.setMaximumHeight(4 * line + 12)

        self.model_combo = QComboBox(self)
        self.model_combo.setObjectName("model_combo")
        self.model_combo.setAccessibleName("Model")
        self.model_combo.setToolTip(
            "The model that draws the image. Choose “Other folder…” to use a diffusers model "
            "folder from anywhere on disk."
        )
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(12)

        self.size_combo = QComboBox(self)
        self.size_combo.setObjectName("size_combo")
        self.size_combo.setAccessibleName("Size")
        self.size_combo.setToolTip(
            "Image size in pixels. “Model default” uses the model's native size (or the start "
            "image's size)."
        )
        self.size_combo.addItem("Model default", SIZE_DEFAULT)
        self.size_combo.setItemData(
            0, "The model's native size, or the start image's size", Qt.ItemDataRole.ToolTipRole
        )
        for width, height, tip in SIZE_PRESETS:
            self.size_combo.addItem(f"{width} × {height}", _size_key(width, height))
            self.size_combo.setItemData(
                self.size_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
            )
        self.size_combo.addItem("Custom", SIZE_CUSTOM)
        self.size_combo.setItemData(
            self.size_combo.count() - 1,
            "Type a width and height (multiples of 8)",
            Qt.ItemDataRole.ToolTipRole,
        )

        self.width_spin = self._size_spin("width", "Width in pixels (a multiple of 8)")
        self.height_spin = self._size_spin("height", "Height in pixels (a multiple of 8)")

        self.steps_spin = QSpinBox(self)
        self.steps_spin.setObjectName("steps_spin")
        self.steps_spin.setRange(1, MAX_STEPS)
        self.steps_spin.setValue(20)
        self.steps_spin.setAccessibleName("Steps")
        self.steps_spin.setToolTip(
            "Denoising steps: more is slower and often finer; 20-30 suits most samplers."
        )

        self.guidance_spin = QDoubleSpinBox(self)
        self.guidance_spin.setObjectName("guidance_spin")
        self.guidance_spin.setRange(0.0, MAX_GUIDANCE)
        self.guidance_spin.setDecimals(2)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(7.5)
        self.guidance_spin.setAccessibleName("CFG scale")
        self.guidance_spin.setToolTip(
            "Guidance (CFG) scale: how closely to follow the prompt. 5-9 is usual; high values "
            "look harsh."
        )

        self.sampler_combo = QComboBox(self)
        self.sampler_combo.setObjectName("sampler_combo")
        self.sampler_combo.setAccessibleName("Sampler")
        self.sampler_combo.setToolTip("The sampler (scheduler). “Model default” keeps the model's.")
        self.sampler_combo.addItem("Model default", None)
        for name in scheduler_names():
            self.sampler_combo.addItem(name, name)

        self.seed_edit = QLineEdit(self)
        self.seed_edit.setObjectName("seed_edit")
        self.seed_edit.setPlaceholderText("random")
        self.seed_edit.setValidator(_SeedValidator(self.seed_edit))
        self.seed_edit.setClearButtonEnabled(True)
        self.seed_edit.setAccessibleName("Seed")
        self.seed_edit.setToolTip(
            "The same seed with the same settings gives the same image. Leave empty for a new "
            f"random seed each time (0 to {MAX_SEED})."
        )
        self.random_seed_button = QPushButton("Random", self)
        self.random_seed_button.setObjectName("random_seed_button")
        self.random_seed_button.setAccessibleName("Random seed")
        self.random_seed_button.setToolTip("Clear the seed: every job gets a new random one.")
        self.reuse_seed_button = QPushButton("Reuse last", self)
        self.reuse_seed_button.setObjectName("reuse_seed_button")
        self.reuse_seed_button.setAccessibleName("Reuse last seed")
        self.reuse_seed_button.setToolTip("Use the seed of the last image again (none yet).")
        self.reuse_seed_button.setEnabled(False)

        self.count_spin = QSpinBox(self)
        self.count_spin.setObjectName("count_spin")
        self.count_spin.setRange(1, MAX_COUNT)
        self.count_spin.setValue(1)
        self.count_spin.setAccessibleName("Number of images")
        self.count_spin.setToolTip("How many images to make; each uses the next seed.")

        self.lora_list = LoraList(self)
        self.img2img_group = _ImageGroupBox("Start from an image", self)
        self.img2img_group.setObjectName("img2img_group")
        self.img2img_group.setCheckable(True)
        self.img2img_group.setAccessibleName("Start from an image")
        self.img2img_group.setToolTip(
            "Image to image: start from a picture instead of noise. Dropping an image on the box "
            "turns this on."
        )
        self.image_drop = ImageDropArea(self.img2img_group)
        self.img2img_group.drop_area = self.image_drop
        self.image_drop.setObjectName("image_drop")
        self.choose_image_button = QPushButton("Choose…", self.img2img_group)
        self.choose_image_button.setObjectName("choose_image_button")
        self.choose_image_button.setAccessibleName("Choose start image")
        self.choose_image_button.setToolTip("Pick the start image from a file.")
        self.clear_image_button = QPushButton("Clear", self.img2img_group)
        self.clear_image_button.setObjectName("clear_image_button")
        self.clear_image_button.setAccessibleName("Clear start image")
        self.clear_image_button.setToolTip("Remove the start image.")
        self.strength_slider = QSlider(Qt.Orientation.Horizontal, self.img2img_group)
        self.strength_slider.setObjectName("strength_slider")
        self.strength_slider.setRange(1, 100)
        self.strength_slider.setSingleStep(1)
        self.strength_slider.setPageStep(10)
        self.strength_slider.setValue(60)
        self.strength_slider.setAccessibleName("Strength")
        self.strength_slider.setToolTip(
            "How much to change the start image: low keeps it, 1.0 nearly ignores it."
        )
        self.strength_label = QLabel(self.img2img_group)
        self.strength_label.setObjectName("strength_label")
        self.strength_label.setMinimumWidth(
            self.strength_label.fontMetrics().horizontalAdvance("0.00")
        )
        self.strength_label.setAccessibleName("Strength value")

        self.generate_button = QPushButton("Generate", self)
        self.generate_button.setObjectName("generate_button")
        self.generate_button.setAccessibleName("Generate")
        self.generate_button.setToolTip(f"Make images with these settings ({generate_keys}).")
        self.generate_button.setSizePolicy(
            QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred
        )
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancel_button")
        self.cancel_button.setAccessibleName("Cancel")
        self.cancel_button.setToolTip(f"Stop the running job ({_key_text('Esc')}).")
        self.queue_label = QLabel(self)
        self.queue_label.setObjectName("queue_label")
        self.queue_label.setToolTip("Jobs waiting to run after the current one.")

    def _size_spin(self, name: str, tip: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setObjectName(f"{name}_spin")
        spin.setRange(MIN_SPIN_SIZE, MAX_SPIN_SIZE)
        spin.setSingleStep(8)
        spin.setValue(512)
        spin.setAccessibleName(name.capitalize())
        spin.setToolTip(tip)
        return spin

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)

        prompt_label = QLabel("&Prompt", self)
        prompt_label.setBuddy(self.prompt_edit)
        layout.addWidget(prompt_label)
        layout.addWidget(self.prompt_edit, 1)
        negative_label = QLabel("&Negative prompt", self)
        negative_label.setBuddy(self.negative_edit)
        layout.addWidget(negative_label)
        layout.addWidget(self.negative_edit)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.addRow("Mode&l", self.model_combo)
        form.addRow("Si&ze", self.size_combo)
        dims = QHBoxLayout()
        dims.setContentsMargins(0, 0, 0, 0)
        width_label = QLabel("&W", self)
        width_label.setBuddy(self.width_spin)
        height_label = QLabel("&H", self)
        height_label.setBuddy(self.height_spin)
        dims.addWidget(width_label)
        dims.addWidget(self.width_spin, 1)
        dims.addWidget(height_label)
        dims.addWidget(self.height_spin, 1)
        form.addRow("", dims)
        form.addRow("&Steps", self.steps_spin)
        form.addRow("&CFG", self.guidance_spin)
        form.addRow("S&ampler", self.sampler_combo)
        seed_row = QHBoxLayout()
        seed_row.setContentsMargins(0, 0, 0, 0)
        seed_row.addWidget(self.seed_edit, 1)
        seed_row.addWidget(self.random_seed_button)
        seed_row.addWidget(self.reuse_seed_button)
        form.addRow("See&d", seed_row)
        # The seed row's buddy: the label's mnemonic should focus the line edit.
        seed_label = form.labelForField(seed_row)
        if isinstance(seed_label, QLabel):
            seed_label.setBuddy(self.seed_edit)
        form.addRow("&Images", self.count_spin)
        layout.addLayout(form)
        layout.addWidget(self.lora_list)

        group_layout = QVBoxLayout(self.img2img_group)
        group_layout.setContentsMargins(6, 6, 6, 6)
        group_layout.addWidget(self.image_drop)
        image_buttons = QHBoxLayout()
        image_buttons.addWidget(self.choose_image_button)
        image_buttons.addWidget(self.clear_image_button)
        image_buttons.addStretch(1)
        group_layout.addLayout(image_buttons)
        strength_row = QHBoxLayout()
        strength_caption = QLabel("Strengt&h", self.img2img_group)
        strength_caption.setBuddy(self.strength_slider)
        strength_row.addWidget(strength_caption)
        strength_row.addWidget(self.strength_slider, 1)
        strength_row.addWidget(self.strength_label)
        group_layout.addLayout(strength_row)
        self.img2img_group.setChecked(False)
        layout.addWidget(self.img2img_group)

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.queue_label)
        layout.addLayout(buttons)

    def _connect(self) -> None:
        self.prompt_edit.submitted.connect(self._request_generate)
        self.negative_edit.submitted.connect(self._request_generate)
        self.generate_button.clicked.connect(self._request_generate)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.model_combo.currentIndexChanged.connect(self._remember_model)
        self.model_combo.currentIndexChanged.connect(self._on_size_changed)
        self.model_combo.activated.connect(self._on_model_activated)
        self.size_combo.currentIndexChanged.connect(self._on_size_changed)
        self.random_seed_button.clicked.connect(self.seed_edit.clear)
        self.reuse_seed_button.clicked.connect(self._reuse_last_seed)
        self.image_drop.image_dropped.connect(lambda _path: self.img2img_group.setChecked(True))
        self.choose_image_button.clicked.connect(self._choose_image)
        self.clear_image_button.clicked.connect(lambda: self.image_drop.set_path(None))
        self.strength_slider.valueChanged.connect(self._on_strength_changed)

    def _set_tab_order(self) -> None:
        chain = [
            self.prompt_edit,
            self.negative_edit,
            self.model_combo,
            self.size_combo,
            self.width_spin,
            self.height_spin,
            self.steps_spin,
            self.guidance_spin,
            self.sampler_combo,
            self.seed_edit,
            self.random_seed_button,
            self.reuse_seed_button,
            self.count_spin,
            self.lora_list.add_button,
            self.img2img_group,
            self.choose_image_button,
            self.clear_image_button,
            self.strength_slider,
            self.generate_button,
            self.cancel_button,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    # -- keys ---------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        """Claim Ctrl+Enter and Esc while focus is inside the panel.

        A QShortcut here would be *ambiguous* with the window's own Ctrl+Enter / Esc shortcuts
        (Qt then fires neither's `activated`). Accepting the ShortcutOverride, which Qt passes up
        from the focused child, instead turns the key into a plain key press that reaches
        `keyPressEvent` below; outside the panel the window's shortcuts work as before.
        """
        if event.type() == QEvent.Type.ShortcutOverride and (
            _is_generate_key(event) or _is_cancel_key(event)  # type: ignore[arg-type]
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if _is_generate_key(event):
            event.accept()
            self._request_generate()
        elif _is_cancel_key(event):
            event.accept()
            self.cancel_requested.emit()
        else:
            super().keyPressEvent(event)

    def _request_generate(self) -> None:
        if self.prompt_edit.suggestions is not None:
            self.prompt_edit.suggestions.hide_popup()
        self.generate_requested.emit()

    # -- models ---------------------------------------------------------------------------------

    def set_models(self, models: list[tuple[str, str]], current: str | None = None) -> None:
        """Fill the model list with (display, value) pairs; "Other folder…" stays last.

        Selects `current` (added as an entry when missing); with None the selection is kept
        when that model is still listed or is a folder the user picked.
        """
        previous = self._model_value()
        self._models = [(str(d), str(v)) for d, v in models if isinstance(v, str) and v]
        values = {value for _, value in self._models}
        self._extra_models = [
            (d, v) for d, v in self._extra_models if v not in values and Path(v).is_dir()
        ]
        if current:
            self._rebuild_model_combo("")
            self._select_model(current, add=True)
        elif previous and self._model_index(previous) < 0 and Path(previous).is_dir():
            self._rebuild_model_combo("")
            self._select_model(previous, add=True)
        else:
            self._rebuild_model_combo(previous)

    def _rebuild_model_combo(self, select: str) -> None:
        combo = self.model_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            for display, value in [*self._models, *self._extra_models]:
                combo.addItem(display, value)
                combo.setItemData(combo.count() - 1, value, Qt.ItemDataRole.ToolTipRole)
            if combo.count():
                combo.insertSeparator(combo.count())
            combo.addItem(OTHER_FOLDER_TEXT)
            other = combo.count() - 1
            combo.setItemData(other, True, _OTHER_ROLE)
            combo.setItemData(
                other, "Use a diffusers model folder from disk", Qt.ItemDataRole.ToolTipRole
            )
            index = self._model_index(select) if select else -1
            if index < 0 and (self._models or self._extra_models):
                index = 0
            combo.setCurrentIndex(index)
        finally:
            combo.blockSignals(False)
        self._remember_model()
        self._on_size_changed()

    def _model_index(self, value: str) -> int:
        for index in range(self.model_combo.count()):
            if self.model_combo.itemData(index, _VALUE_ROLE) == value:
                return index
        return -1

    def _model_value(self) -> str:
        value = self.model_combo.currentData(_VALUE_ROLE)
        return value if isinstance(value, str) else ""

    def _is_other_index(self, index: int) -> bool:
        return bool(self.model_combo.itemData(index, _OTHER_ROLE))

    def _select_model(self, value: str, add: bool) -> bool:
        index = self._model_index(value)
        if index < 0:
            if not add:
                return False
            display = Path(value).name if ("/" in value or os.sep in value) else value
            self._extra_models.append((display or value, value))
            self._rebuild_model_combo(value)
            return True
        self.model_combo.setCurrentIndex(index)
        return True

    def _remember_model(self, *_: object) -> None:
        index = self.model_combo.currentIndex()
        if index >= 0 and not self._is_other_index(index):
            self._chosen_model = self._model_value()

    def _on_model_activated(self, index: int) -> None:
        if not self._is_other_index(index):
            return
        start = self._chosen_model if Path(self._chosen_model).is_dir() else ""
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", start)
        if folder:
            self._select_model(str(Path(folder).absolute()), add=True)
        else:
            back = self._model_index(self._chosen_model) if self._chosen_model else -1
            self.model_combo.setCurrentIndex(back)

    # -- size -----------------------------------------------------------------------------------

    def _on_size_changed(self, *_: object) -> None:
        key = self.size_combo.currentData()
        custom = key == SIZE_CUSTOM
        self.width_spin.setEnabled(custom)
        self.height_spin.setEnabled(custom)
        for width, height, _tip in SIZE_PRESETS:
            if key == _size_key(width, height):
                self.width_spin.setValue(width)
                self.height_spin.setValue(height)
        native = self._native_sizes.get(self._model_value())
        if key == SIZE_DEFAULT and native:
            self.width_spin.setValue(native)
            self.height_spin.setValue(native)

    def _size(self) -> tuple[int | None, int | None]:
        key = self.size_combo.currentData()
        if key == SIZE_DEFAULT or key is None:
            return None, None
        return self.width_spin.value(), self.height_spin.value()

    def _set_size(self, width: int | None, height: int | None) -> None:
        if width is None and height is None:
            self.size_combo.setCurrentIndex(self.size_combo.findData(SIZE_DEFAULT))
            return
        if width is not None and height is not None:
            preset = self.size_combo.findData(_size_key(width, height))
            if preset >= 0:
                self.size_combo.setCurrentIndex(preset)
                return
        self.size_combo.setCurrentIndex(self.size_combo.findData(SIZE_CUSTOM))
        # A size missing on one side takes the other's value: the form has no "half default".
        self.width_spin.setValue(width if width is not None else height)  # type: ignore[arg-type]
        self.height_spin.setValue(height if height is not None else width)  # type: ignore[arg-type]

    # -- seed, sampler, img2img ---------------------------------------------------------------

    def set_last_seed(self, seed: int) -> None:
        """Remember the seed of the last image so that "Reuse last" can fill it in."""
        self._last_seed = int(seed)
        self.reuse_seed_button.setEnabled(True)
        self.reuse_seed_button.setToolTip(f"Use the seed of the last image again ({seed}).")

    def _reuse_last_seed(self) -> None:
        if self._last_seed is not None:
            self.seed_edit.setText(str(self._last_seed))

    def _seed(self) -> int | None:
        text = self.seed_edit.text().strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):
            raise InvalidRequest(
                f"The seed must be a whole number from 0 to {MAX_SEED}, or empty for a random "
                f"seed; {text!r} was given."
            )
        return int(text)  # the range is the core's to check

    def _set_scheduler(self, name: str | None) -> None:
        index = self.sampler_combo.findData(name) if name else -1
        self.sampler_combo.setCurrentIndex(max(index, 0))

    def _choose_image(self) -> None:
        patterns = " ".join(sorted(f"*{suffix}" for suffix in image_suffixes()))
        current = self.image_drop.path()
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a start image",
            str(Path(current).parent) if current else "",
            f"Images ({patterns});;All files (*)",
        )
        if path:
            self.image_drop.set_path(path)
            self.img2img_group.setChecked(True)

    def _on_strength_changed(self, value: int) -> None:
        self.strength_label.setText(f"{value / 100:.2f}")

    def _strength(self) -> float:
        return self.strength_slider.value() / 100

    def _set_strength(self, strength: float) -> None:
        self.strength_slider.setValue(min(100, max(1, round(strength * 100))))

    # -- requests ---------------------------------------------------------------------------------

    def build_request(self) -> GenerationRequest:
        """A request from the form; an `InvalidRequest` (the core's message) if a value is bad."""
        width, height = self._size()
        img2img = self.img2img_group.isChecked()
        init_image = self.image_drop.path() if img2img else None
        request = GenerationRequest(
            prompt=self.prompt_edit.toPlainText().strip(),
            negative_prompt=self.negative_edit.toPlainText().strip(),
            model=self._model_value(),
            width=width,
            height=height,
            steps=self.steps_spin.value(),
            guidance=float(self.guidance_spin.value()),
            seed=self._seed(),
            scheduler=self.sampler_combo.currentData(),
            count=self.count_spin.value(),
            init_image=init_image,
            strength=self._strength(),
            loras=self.lora_list.loras(),
        )
        if img2img and init_image is None:
            raise InvalidRequest(
                "No start image: drop an image on the box or choose one, or untick "
                "“Start from an image”."
            )
        return request

    def load_request(self, request: GenerationRequest) -> None:
        """Show `request` in the form, so that `build_request()` gives it back."""
        self.prompt_edit.setPlainText(request.prompt)
        self.negative_edit.setPlainText(request.negative_prompt)
        self._select_model(request.model, add=True)
        self._set_size(request.width, request.height)
        self.steps_spin.setValue(request.steps)
        self.guidance_spin.setValue(request.guidance)
        self._set_scheduler(request.scheduler)
        self.seed_edit.setText("" if request.seed is None else str(request.seed))
        self.count_spin.setValue(request.count)
        self.image_drop.set_path(request.init_image)
        self.img2img_group.setChecked(request.init_image is not None)
        self._set_strength(request.strength)
        self.lora_list.set_loras(request.loras)

    def load_image_settings(self, settings: ImageSettings) -> None:
        """Fill the form from the settings an image carries (A1111, InvokeAI or ours).

        Values the form cannot hold are left as they were. A sampler we don't have becomes
        "Model default". The model changes only when our own JSON names a model folder that
        exists or a model in the list: other tools' checkpoint names mean nothing here.
        """
        self.prompt_edit.setPlainText(settings.prompt)
        self.negative_edit.setPlainText(settings.negative_prompt)
        if _is_int(settings.steps) and 1 <= settings.steps <= MAX_STEPS:
            self.steps_spin.setValue(settings.steps)
        if _is_number(settings.cfg_scale) and 0 <= settings.cfg_scale <= MAX_GUIDANCE:
            self.guidance_spin.setValue(float(settings.cfg_scale))
        if _is_int(settings.seed) and 0 <= settings.seed <= MAX_SEED:
            self.seed_edit.setText(str(settings.seed))
        if (
            _is_int(settings.width)
            and _is_int(settings.height)
            and MIN_SPIN_SIZE <= settings.width <= MAX_SPIN_SIZE
            and MIN_SPIN_SIZE <= settings.height <= MAX_SPIN_SIZE
        ):
            self._set_size(settings.width, settings.height)
        self._set_scheduler(self._known_sampler(settings))
        ours = settings.request if isinstance(settings.request, dict) else {}
        model = ours.get("model")
        if isinstance(model, str) and model:
            if self._model_index(model) >= 0:
                self._select_model(model, add=False)
            elif Path(model).is_dir():
                self._select_model(str(Path(model).absolute()), add=True)

    @staticmethod
    def _known_sampler(settings: ImageSettings) -> str | None:
        name = settings.sampler
        if not isinstance(name, str) or not name.strip():
            return None
        # Newer A1111 writes the Karras schedule as its own key.
        schedule = next((v for k, v in settings.extra.items() if k.lower() == "schedule type"), "")
        if schedule.strip().lower() == "karras" and "karras" not in name.lower():
            name = f"{name} Karras"
        try:
            return canonical_scheduler_name(name)
        except InvalidRequest:
            try:
                return canonical_scheduler_name(settings.sampler)  # type: ignore[arg-type]
            except InvalidRequest:
                return None

    # -- suggestions and status -------------------------------------------------------------

    def load_model(self, name: str) -> None:
        """Select model `name` in the picker (added to it if it is a path not listed)."""
        self._select_model(name, add=True)

    def set_native_sizes(self, sizes: dict[str, int]) -> None:
        """Each model's native picture size, shown greyed while the size is "Model default"."""
        self._native_sizes = dict(sizes)
        self._on_size_changed()

    def set_loras_available(self, names: list[str]) -> None:
        """The LoRAs in the library, for the LoRA rows."""
        self.lora_list.set_available(names)

    def set_suggestions(self, prompts: list[str]) -> None:
        """Previous prompts to suggest while typing (latest first)."""
        if self.prompt_edit.suggestions is not None:
            self.prompt_edit.suggestions.set_prompts(prompts)

    def show_outcome(self, outcome: JobOutcome) -> None:
        """A generation finished: "Reuse last" offers its seed."""
        if outcome.seeds:
            self.set_last_seed(outcome.seeds[0])

    def set_busy(self, running: bool, queued: int) -> None:
        """Cancel works only while a job runs; the queue count shows when jobs wait."""
        self.cancel_button.setEnabled(bool(running))
        self.queue_label.setText(f"queue: {int(queued)}")
        self.queue_label.setVisible(queued > 0)

    # -- persistence ------------------------------------------------------------------------------

    def form_state(self) -> dict:
        """Every form value as a JSON-able dict (for restoring the form at the next start)."""
        return {
            "version": FORM_STATE_VERSION,
            "prompt": self.prompt_edit.toPlainText(),
            "negative_prompt": self.negative_edit.toPlainText(),
            "model": self._model_value(),
            "size": self.size_combo.currentData(),
            "width": self.width_spin.value(),
            "height": self.height_spin.value(),
            "steps": self.steps_spin.value(),
            "guidance": float(self.guidance_spin.value()),
            "scheduler": self.sampler_combo.currentData(),
            "seed": self.seed_edit.text().strip(),
            "count": self.count_spin.value(),
            "img2img": self.img2img_group.isChecked(),
            "init_image": self.image_drop.path(),
            "strength": self._strength(),
            "loras": [list(item) for item in self.lora_list.loras()],
        }

    def restore_form_state(self, state: dict) -> None:
        """Restore `form_state()` output; unknown keys and unusable values are skipped."""
        if not isinstance(state, dict):
            return
        for key, edit in (("prompt", self.prompt_edit), ("negative_prompt", self.negative_edit)):
            if isinstance(state.get(key), str):
                edit.setPlainText(state[key])
        model = state.get("model")
        if isinstance(model, str) and model:
            if self._model_index(model) >= 0:
                self._select_model(model, add=False)
            elif Path(model).is_dir():
                self._select_model(model, add=True)
        for key, spin in (("width", self.width_spin), ("height", self.height_spin)):
            value = state.get(key)
            if _is_int(value) and spin.minimum() <= value <= spin.maximum():
                spin.setValue(value)
        size = state.get("size")
        if isinstance(size, str) and self.size_combo.findData(size) >= 0:
            width, height = self.width_spin.value(), self.height_spin.value()
            self.size_combo.setCurrentIndex(self.size_combo.findData(size))
            if size == SIZE_CUSTOM:
                self.width_spin.setValue(width)
                self.height_spin.setValue(height)
        for key, spin in (("steps", self.steps_spin), ("count", self.count_spin)):
            value = state.get(key)
            if _is_int(value) and spin.minimum() <= value <= spin.maximum():
                spin.setValue(value)
        guidance = state.get("guidance")
        if _is_number(guidance) and 0 <= guidance <= MAX_GUIDANCE:
            self.guidance_spin.setValue(float(guidance))
        scheduler = state.get("scheduler")
        if scheduler is None and "scheduler" in state:
            self._set_scheduler(None)
        elif isinstance(scheduler, str) and self.sampler_combo.findData(scheduler) >= 0:
            self._set_scheduler(scheduler)
        seed = state.get("seed")
        if _is_int(seed):
            seed = str(seed)
        if isinstance(seed, str):
            validator = self.seed_edit.validator()
            if validator.validate(seed, 0)[0] == QValidator.State.Acceptable:
                self.seed_edit.setText(seed.strip())
        init_image = state.get("init_image")
        if isinstance(init_image, str) and Path(init_image).is_file():
            self.image_drop.set_path(init_image)
            if isinstance(state.get("img2img"), bool):
                self.img2img_group.setChecked(state["img2img"])
        elif state.get("img2img") is False:
            self.img2img_group.setChecked(False)
        strength = state.get("strength")
        if _is_number(strength) and 0 < strength <= 1:
            self._set_strength(float(strength))
        self._on_size_changed()  # "Model default" shows the restored model's size
        loras = state.get("loras")
        if isinstance(loras, list):
            # a hand-edited or old state: keep the form as it is
            with contextlib.suppress(InvalidRequest):
                self.lora_list.set_loras(GenerationRequest(prompt="x", loras=loras).loras)
