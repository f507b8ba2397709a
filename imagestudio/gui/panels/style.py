"""The Style tab: a content picture, a style picture and how to mix them.

The panel only builds a `StyleRequest`; the main window queues it on the same worker as
generation jobs, and the canvas shows the picture forming.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.errors import ImageStudioError, InvalidRequest
from imagestudio.core.requests import (
    STYLE_MAX_ITERATIONS,
    STYLE_MAX_SIZE,
    STYLE_MIN_SIZE,
    StyleRequest,
)
from imagestudio.core.vocabulary import StyleInit, StyleMode
from imagestudio.gui.images import image_suffixes
from imagestudio.gui.widgets.image_drop import ImageDropArea
from imagestudio.gui.widgets.start_folder import remember, start_folder

if TYPE_CHECKING:
    from imagestudio.core.outcomes import JobOutcome

MODE_LABELS = {"fast": "Fast (one pass)", "quality": "Quality (optimise)"}
# The style-weight slider: positions 0..STEPS map to weights 0.1..10, logarithmically, 1 in the
# middle (each tenth of the slider is a factor of about 1.6).
STYLE_SLIDER_STEPS = 100
STYLE_SLIDER_DECADES = 1.0  # a decade each side of 1


def _slider_weight(position: int) -> float:
    exponent = (position / STYLE_SLIDER_STEPS * 2 - 1) * STYLE_SLIDER_DECADES
    return round(10**exponent, 2)


def _slider_position(weight: float) -> int:
    """The nearest slider position for `weight` (ends for 0 and weights past the ends)."""
    if weight <= 0:
        return 0
    exponent = math.log10(weight) / STYLE_SLIDER_DECADES
    return max(0, min(STYLE_SLIDER_STEPS, round((exponent + 1) / 2 * STYLE_SLIDER_STEPS)))


class StyleImageSlot(QGroupBox):
    """One input picture: a drop area with Open…, Paste and Use result buttons."""

    paste_failed = Signal(str)

    def __init__(self, title: str, what: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.what = what
        self.drop = ImageDropArea()
        self.drop.setAccessibleName(f"{title} image")
        self.drop.setToolTip(f"Drop the {what} picture here, or use Open…, Paste or Use result")
        self.open_button = QPushButton("Open…")
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Use the picture on the clipboard")
        self.result_button = QPushButton("Use result")
        self.result_button.setToolTip("Use the picture shown on the canvas")
        # Thumbnail beside a column of buttons: the panel stays as narrow as the Generate tab.
        buttons = QVBoxLayout()
        for button in (self.open_button, self.paste_button, self.result_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.addWidget(self.drop, 1)
        layout.addLayout(buttons)
        self.open_button.clicked.connect(self._choose)
        self.paste_button.clicked.connect(self.paste)

    def path(self) -> str | None:
        return self.drop.path()

    def set_path(self, path: str | None) -> None:
        self.drop.set_path(path)

    def _choose(self) -> None:
        patterns = " ".join(sorted(f"*{suffix}" for suffix in image_suffixes()))
        current = self.path()
        path, _ = QFileDialog.getOpenFileName(
            self,
            f"Choose the {self.what} picture",
            start_folder(current),
            f"Images ({patterns});;All files (*)",
        )
        if path:
            remember(path)
            self.set_path(path)

    def paste(self) -> bool:
        """Take the clipboard's picture (or image file); it is saved under the cache folder."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime.hasUrls():
            self.drop.drop_mime_data(mime)
            if self.path():
                return True
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.paste_failed.emit("The clipboard holds no picture to paste.")
            return False
        try:
            self.set_path(str(save_pasted_image(image)))
        except ImageStudioError as exc:
            self.paste_failed.emit(str(exc))
            return False
        return True


def save_pasted_image(image: QImage) -> Path:
    """Write a pasted picture to `cache/pasted/` as PNG (atomically) and return its path."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from imagestudio.core.outputs.storage import atomic_write_bytes
    from imagestudio.core.paths import app_paths

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs want bytes; Qt wants str
    buffer.close()
    name = time.strftime("pasted-%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000:06d}.png"
    return atomic_write_bytes(app_paths().cache_dir / "pasted" / name, bytes(data.data()))


class StylePanel(QWidget):
    """The style-transfer form. Emits `start_requested`; `build_request` validates it."""

    start_requested = Signal()
    cancel_requested = Signal()
    message = Signal(str)  # a sentence for the error banner

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.content_slot = StyleImageSlot("Content", "content")
        self.style_slot = StyleImageSlot("Style", "style")
        self.swap_button = QPushButton("Swap pictures")

        self.mode_combo = QComboBox()
        for mode, label in MODE_LABELS.items():
            self.mode_combo.addItem(label, mode)
        self.mode_combo.setToolTip(
            "Fast: one pass of a feed-forward network, about a second.\n"
            "Quality: the picture is optimised against VGG features; slower, finer, live preview."
        )
        self.size_spin = QSpinBox()
        self.size_spin.setAccessibleName("Size")
        self.size_spin.setRange(STYLE_MIN_SIZE, STYLE_MAX_SIZE)
        self.size_spin.setSingleStep(64)
        self.size_spin.setValue(512)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("The result's long side; the content's shape is kept")
        self.preserve_check = QCheckBox("Preserve colours")
        self.preserve_check.setToolTip(
            "Take the style's brushwork and light only; keep the content's colours"
        )

        # fast mode
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(0, 100)
        self.strength_slider.setValue(100)
        self.strength_slider.setAccessibleName("Style strength")
        self.strength_label = QLabel("100%")
        self.strength_label.setMinimumWidth(40)

        # quality mode
        self.content_weight = self._weight_spin("How closely the result keeps the content's layout")
        self.style_weight = self._weight_spin("How strongly the style's textures are imposed")
        self.tv_weight = self._weight_spin("Smoothness: higher removes speckle, lower keeps detail")
        for spin, name in (
            (self.content_weight, "Content weight"),
            (self.style_weight, "Style weight"),
            (self.tv_weight, "Smoothness"),
        ):
            spin.setAccessibleName(name)
        # The style weight also has a slider, logarithmic from subtle to strong; the spin box
        # beside it takes exact values (and weights past the slider's ends).
        self.style_slider = QSlider(Qt.Orientation.Horizontal)
        self.style_slider.setRange(0, STYLE_SLIDER_STEPS)
        self.style_slider.setValue(_slider_position(1.0))
        self.style_slider.setAccessibleName("Style amount")
        self.style_slider.setToolTip(
            "From a subtle touch (left) to the style's textures all over (right)"
        )
        self.iterations_spin = QSpinBox()
        self.iterations_spin.setAccessibleName("Iterations")
        self.iterations_spin.setRange(1, STYLE_MAX_ITERATIONS)
        self.iterations_spin.setValue(300)
        self.iterations_spin.setSingleStep(50)
        self.init_combo = QComboBox()
        self.init_combo.addItem("Content picture", "content")
        self.init_combo.addItem("Noise", "noise")
        self.seed_spin = QSpinBox()
        self.seed_spin.setAccessibleName("Seed")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of the starting noise (Start from: Noise)")

        self.start_button = QPushButton("Stylize")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Start the style transfer (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current iteration (Esc)")
        self.cancel_button.setEnabled(False)
        self.hint_label = QLabel()
        self.hint_label.setWordWrap(True)
        self.hint_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self._build_layout()
        self._connect()
        self._on_mode_changed()

    def _weight_spin(self, tip: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0.0, 100.0)
        spin.setDecimals(2)
        spin.setSingleStep(0.1)
        spin.setValue(1.0)
        spin.setToolTip(tip + " (1 is the balanced default)")
        return spin

    def _build_layout(self) -> None:
        images = QVBoxLayout()
        images.addWidget(self.content_slot)
        images.addWidget(self.style_slot)

        common = QFormLayout()
        common.addRow("Mode", self.mode_combo)
        common.addRow("Size", self.size_spin)
        common.addRow("", self.preserve_check)

        fast = QWidget()
        fast_form = QFormLayout(fast)
        fast_form.setContentsMargins(0, 0, 0, 0)
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength_slider, 1)
        strength_row.addWidget(self.strength_label)
        fast_form.addRow("Style strength", strength_row)

        quality = QWidget()
        quality_form = QFormLayout(quality)
        quality_form.setContentsMargins(0, 0, 0, 0)
        quality_form.addRow("Content weight", self.content_weight)
        quality_form.addRow("Style weight", self.style_weight)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Subtle"))
        slider_row.addWidget(self.style_slider, 1)
        slider_row.addWidget(QLabel("Strong"))
        quality_form.addRow("", slider_row)
        quality_form.addRow("Smoothness (TV)", self.tv_weight)
        quality_form.addRow("Iterations", self.iterations_spin)
        quality_form.addRow("Start from", self.init_combo)
        quality_form.addRow("Seed", self.seed_spin)

        self.mode_stack = QStackedWidget()
        self.mode_stack.addWidget(fast)
        self.mode_stack.addWidget(quality)

        # Not in this (scrolling) layout: the window pins it under the form.
        self.action_bar = QWidget(self)
        self.action_bar.setObjectName("style_actions")
        self.action_bar.hide()  # shown where the window puts it
        buttons = QHBoxLayout(self.action_bar)
        buttons.setContentsMargins(6, 4, 6, 4)
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addLayout(images)
        layout.addWidget(self.swap_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(common)
        layout.addWidget(self.mode_stack)
        layout.addWidget(self.hint_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.strength_slider.valueChanged.connect(
            lambda value: self.strength_label.setText(f"{value}%")
        )
        self.style_slider.valueChanged.connect(self._on_style_slider)
        self.style_weight.valueChanged.connect(self._on_style_weight)
        self.start_button.clicked.connect(self.start_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.swap_button.clicked.connect(self.swap)
        for slot in (self.content_slot, self.style_slot):
            slot.paste_failed.connect(self.message)
            slot.drop.path_changed.connect(self._update_hint)

    def _on_style_slider(self, position: int) -> None:
        weight = _slider_weight(position)
        # Only when the slider moved to another position than the spin's value maps to, so an
        # exact value typed in the spin box is not rounded by its own echo.
        if _slider_position(self.style_weight.value()) != position:
            self.style_weight.setValue(weight)

    def _on_style_weight(self, weight: float) -> None:
        blocker = QSignalBlocker(self.style_slider)
        self.style_slider.setValue(_slider_position(weight))
        del blocker

    def _on_mode_changed(self, *_: object) -> None:
        quality = self.mode() == "quality"
        self.mode_stack.setCurrentIndex(1 if quality else 0)
        self._update_hint()

    def _update_hint(self, *_: object) -> None:
        if not self.content_slot.path() or not self.style_slot.path():
            text = "Choose a content picture and a style picture: drop, open or paste them."
        elif self.mode() == "fast":
            text = "Fast mode takes about a second. Lower the strength for a lighter touch."
        else:
            text = "Quality mode repaints step by step; the canvas shows the picture forming."
        self.hint_label.setText(text)

    # -- public ---------------------------------------------------------------------------------

    def mode(self) -> StyleMode:
        return cast(StyleMode, str(self.mode_combo.currentData()))

    def swap(self) -> None:
        content, style = self.content_slot.path(), self.style_slot.path()
        self.content_slot.set_path(style)
        self.style_slot.set_path(content)

    def build_request(self) -> StyleRequest:
        """The form as a request; InvalidRequest with a sentence when something is missing."""
        content, style = self.content_slot.path(), self.style_slot.path()
        if not content:
            raise InvalidRequest("Choose a content picture first: drop, open or paste one.")
        if not style:
            raise InvalidRequest("Choose a style picture first: drop, open or paste one.")
        for label, path in (("content", content), ("style", style)):
            if not Path(path).is_file():
                raise InvalidRequest(f"The {label} picture {path} no longer exists.")
        return StyleRequest(
            content_image=content,
            style_image=style,
            mode=self.mode(),
            strength=self.strength_slider.value() / 100,
            content_weight=round(self.content_weight.value(), 4),
            style_weight=round(self.style_weight.value(), 4),
            tv_weight=round(self.tv_weight.value(), 4),
            iterations=self.iterations_spin.value(),
            size=self.size_spin.value(),
            preserve_colors=self.preserve_check.isChecked(),
            init=cast(StyleInit, str(self.init_combo.currentData())),
            seed=self.seed_spin.value(),
        )

    def load_request(self, request: StyleRequest) -> None:
        """Fill the form from a request (a history entry)."""
        self.content_slot.set_path(request.content_image)
        self.style_slot.set_path(request.style_image)
        self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(request.mode)))
        self.strength_slider.setValue(round(request.strength * 100))
        self.content_weight.setValue(request.content_weight)
        self.style_weight.setValue(request.style_weight)
        self.tv_weight.setValue(request.tv_weight)
        self.iterations_spin.setValue(request.iterations)
        self.size_spin.setValue(request.size)
        self.preserve_check.setChecked(request.preserve_colors)
        self.init_combo.setCurrentIndex(max(0, self.init_combo.findData(request.init)))
        self.seed_spin.setValue(min(request.seed, self.seed_spin.maximum()))

    def set_busy(self, running: bool, queued: int = 0) -> None:
        self.cancel_button.setEnabled(bool(running))

    def show_outcome(self, outcome: JobOutcome) -> None:
        """A style job finished: the canvas and the gallery show it; the form keeps its values."""

    def form_state(self) -> dict:
        """What to restore next time (the pictures too, when they still exist)."""
        state: dict = {
            "mode": self.mode(),
            "strength": self.strength_slider.value(),
            "content_weight": self.content_weight.value(),
            "style_weight": self.style_weight.value(),
            "tv_weight": self.tv_weight.value(),
            "iterations": self.iterations_spin.value(),
            "size": self.size_spin.value(),
            "preserve_colors": self.preserve_check.isChecked(),
            "init": self.init_combo.currentData(),
            "seed": self.seed_spin.value(),
        }
        for key, slot in (("content", self.content_slot), ("style", self.style_slot)):
            if slot.path():
                state[key] = slot.path()
        return state

    def restore_form_state(self, state: dict) -> None:
        """Best effort: a value that is missing or of the wrong type is skipped."""

        def get(key: str, kind: type) -> object | None:
            value = state.get(key)
            return value if isinstance(value, kind) and not isinstance(value, bool) else None

        if (mode := get("mode", str)) is not None:
            self.mode_combo.setCurrentIndex(max(0, self.mode_combo.findData(mode)))
        if isinstance(strength := get("strength", int), int):
            self.strength_slider.setValue(strength)
        for key, spin in (
            ("content_weight", self.content_weight),
            ("style_weight", self.style_weight),
            ("tv_weight", self.tv_weight),
        ):
            if isinstance(value := state.get(key), (int, float)) and not isinstance(value, bool):
                spin.setValue(float(value))
        for key, int_spin in (
            ("iterations", self.iterations_spin),
            ("size", self.size_spin),
            ("seed", self.seed_spin),
        ):
            if isinstance(number := get(key, int), int):
                int_spin.setValue(number)
        if isinstance(state.get("preserve_colors"), bool):
            self.preserve_check.setChecked(state["preserve_colors"])
        if (init := get("init", str)) is not None:
            self.init_combo.setCurrentIndex(max(0, self.init_combo.findData(init)))
        for key, slot in (("content", self.content_slot), ("style", self.style_slot)):
            if isinstance(path := state.get(key), str) and Path(path).is_file():
                slot.set_path(path)
