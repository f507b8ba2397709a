"""The "Generate" panel: the form an artist fills in to ask for images.

The panel only turns widgets into a `GenerationRequest` and back; validation lives in the core, so
the window shows the core's message as is. A request, the saved form and an image's settings all
come back through one loader (`_load_values`) that reads the request's own keys (`to_dict()`), so
there is one mapping between the form and a request. Nothing here imports torch or diffusers.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import (
    QKeyEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.generation.sizes import size_presets, size_warning
from imagestudio.core.loratags import split_lora_tags
from imagestudio.core.requests import (
    HIRES_DEFAULT_UPSCALER,
    MAX_COUNT,
    MAX_GUIDANCE,
    MAX_LORA_WEIGHT,
    MAX_LORAS,
    MAX_STEPS,
    GenerationRequest,
    in_range,
)
from imagestudio.core.schedulers import (
    scheduler_names,
)
from imagestudio.core.vocabulary import BUILTIN_MODEL
from imagestudio.gui.panels.loras import LoraList
from imagestudio.gui.widgets.advanced import AdvancedGroup
from imagestudio.gui.widgets.forms import named, number_box, spin_box
from imagestudio.gui.widgets.hires import HiresGroup
from imagestudio.gui.widgets.init_image import InitImageGroup
from imagestudio.gui.widgets.model_picker import OTHER_FOLDER_TEXT, ModelPicker
from imagestudio.gui.widgets.prompt_edit import (
    PromptEdit,
    PromptSuggestions,
    is_cancel_key,
    is_generate_key,
    key_text,
)
from imagestudio.gui.widgets.run_on import RunOnRow
from imagestudio.gui.widgets.seed_field import SeedField

if TYPE_CHECKING:
    from imagestudio.core.outcomes import JobOutcome
    from imagestudio.core.outputs.metadata import ImageSettings

__all__ = ["OTHER_FOLDER_TEXT", "PromptPanel"]

# 2: the request's own keys (seed as a number) plus the UI-only keys below; 1 is read too
FORM_STATE_VERSION = 2
_UI_KEYS = ("version", "size", "img2img", "hires")

MIN_SPIN_SIZE = 64
MAX_SPIN_SIZE = 4096

SIZE_DEFAULT = "default"
SIZE_CUSTOM = "custom"
# The keys of the size combo are "WxH"; the presets come from `sizes.size_presets`.
# The built-in starter model draws 64-px pictures: its first preset draws one and enlarges it
# with hires fix, so that a first picture is a crisp 256 px, not a blurry thumbnail.
SIZE_STARTER_HIRES = "starter-hires"
STARTER_SIDE = 64
STARTER_HIRES_SCALE = 4.0
# Enlarge only: a second pass at 256 px, even at strength 0.1, turns the starter's one shape
# into a grid of small ones (it only knows 64 px); Real-ESRGAN alone keeps it crisp.
STARTER_HIRES_DENOISE = 0.0


def _size_key(width: int, height: int) -> str:
    return f"{width}x{height}"


# --------------------------------------------------------------------------------------------
# The panel


class PromptPanel(QWidget):
    """The left "Generate" panel: prompt, model, size, sampling settings, hires fix and img2img."""

    generate_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("PromptPanel")
        self._native_sizes: dict[str, int] = {}  # model name -> native picture size
        self._build_widgets()
        self._build_layout()
        self._connect()
        self._set_tab_order()
        self._on_size_changed()
        self.set_busy(False, 0)

    # -- construction -----------------------------------------------------------------------

    def _build_widgets(self) -> None:
        generate_keys = key_text("Ctrl+Enter")

        self.prompt_edit = named(
            PromptEdit(self),
            "prompt_edit",
            "Prompt",
            f"What the image should show. {generate_keys} generates; previous prompts are "
            "suggested as you type.",
        )
        self.prompt_edit.setPlaceholderText(f"Describe the image… ({generate_keys} to generate)")
        self.prompt_edit.setMinimumHeight(60)
        self.prompt_edit.suggestions = PromptSuggestions(self.prompt_edit)

        self.negative_edit = named(
            PromptEdit(self),
            "negative_edit",
            "Negative prompt",
            "What the image should not show (negative prompt).",
        )
        self.negative_edit.setPlaceholderText("What to avoid, e.g. blurry, text")
        line = self.negative_edit.fontMetrics().lineSpacing()
        self.negative_edit.setMinimumHeight(2 * line + 12)
        self.negative_edit.setMaximumHeight(4 * line + 12)

        self.model_combo = named(
            ModelPicker(self),
            "model_combo",
            "Model",
            "The model that draws the image. Choose “Other folder…” to use a diffusers model "
            "folder from anywhere on disk.",
        )
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(12)

        self.size_combo = named(
            QComboBox(self),
            "size_combo",
            "Size",
            "Image size in pixels. “Model default” uses the model's native size (or the start "
            "image's size).",
        )

        self.width_spin, self.height_spin = (
            spin_box(
                self, f"{name}_spin", name.capitalize(), tip, MIN_SPIN_SIZE, MAX_SPIN_SIZE, 512
            )
            for name, tip in (
                ("width", "Width in pixels (a multiple of 8)"),
                ("height", "Height in pixels (a multiple of 8)"),
            )
        )
        for spin in (self.width_spin, self.height_spin):
            spin.setSingleStep(8)
        # the (native size, starter model?) the presets were made for
        self._presets_for: tuple[int | None, bool] | None = None
        self._chosen_size: object = None  # the size key chosen before the last change
        self._fill_sizes(None, starter=False)
        self.size_hint = QLabel(self)
        self.size_hint.setObjectName("size_hint")
        self.size_hint.setWordWrap(True)
        self.size_hint.setTextFormat(Qt.TextFormat.PlainText)
        self.size_hint.hide()
        self.steps_spin = spin_box(
            self,
            "steps_spin",
            "Steps",
            "Denoising steps: more is slower and often finer; 20-30 suits most samplers.",
            1,
            MAX_STEPS,
            20,
        )
        self.guidance_spin = number_box(
            self,
            "guidance_spin",
            "CFG scale",
            "Guidance (CFG) scale: how closely to follow the prompt. 5-9 is usual; high values "
            "look harsh.",
            (0.0, MAX_GUIDANCE),
            7.5,
        )
        self.sampler_combo = named(
            QComboBox(self),
            "sampler_combo",
            "Sampler",
            "The sampler (scheduler). “Model default” keeps the model's.",
        )
        self.sampler_combo.addItem("Model default", None)
        for name in scheduler_names():
            self.sampler_combo.addItem(name, name)

        self.seed_field = SeedField(self)
        self.seed_edit = self.seed_field.edit
        self.random_seed_button = self.seed_field.random_button
        self.reuse_seed_button = self.seed_field.reuse_button
        self.count_spin = spin_box(
            self,
            "count_spin",
            "Number of images",
            "How many images to make; each uses the next seed.",
            1,
            MAX_COUNT,
            1,
        )

        self.hires_group = HiresGroup(self)
        self.lora_list = LoraList(self)
        # where the job runs; a server's choice makes the picker and LoRA rows list its files
        self.run_on = RunOnRow(self.model_combo, self.lora_list, self)
        self.advanced_group = AdvancedGroup(self)
        self.img2img_group = InitImageGroup(self)
        # the group's parts, as the panel's own (tests and the tab order reach them here)
        self.image_drop = self.img2img_group.drop_area
        self.choose_image_button = self.img2img_group.choose_button
        self.clear_image_button = self.img2img_group.clear_button
        self.strength_slider = self.img2img_group.strength_slider
        self.strength_label = self.img2img_group.strength_label

        self.generate_button = named(
            QPushButton("Generate", self),
            "generate_button",
            "Generate",
            f"Make images with these settings ({generate_keys}).",
        )
        self.generate_button.setSizePolicy(
            QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred
        )
        self.cancel_button = named(
            QPushButton("Cancel", self),
            "cancel_button",
            "Cancel",
            f"Stop the running job ({key_text('Esc')}).",
        )
        self.queue_label = named(
            QLabel(self), "queue_label", "Queue", "Jobs waiting to run after the current one."
        )

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
        form.addRow("R&un on", self.run_on)
        # only with a ComfyUI server set up: otherwise every job runs here, nothing to choose
        self.run_on.servers_changed.connect(lambda any_: form.setRowVisible(self.run_on, any_))
        form.setRowVisible(self.run_on, bool(self.run_on.servers()))
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
        form.addRow("", self.size_hint)
        form.addRow("&Steps", self.steps_spin)
        form.addRow("&CFG", self.guidance_spin)
        form.addRow("S&ampler", self.sampler_combo)
        form.addRow("See&d", self.seed_field)
        form.addRow("&Images", self.count_spin)
        layout.addLayout(form)
        layout.addWidget(self.hires_group)
        layout.addWidget(self.lora_list)
        layout.addWidget(self.advanced_group)
        layout.addWidget(self.img2img_group)

        # Not in this (scrolling) layout: the window pins it under the form.
        self.action_bar = QWidget(self)
        self.action_bar.setObjectName("generate_actions")
        self.action_bar.hide()  # shown where the window puts it
        buttons = QHBoxLayout(self.action_bar)
        buttons.setContentsMargins(6, 4, 6, 4)
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.queue_label)

    def _connect(self) -> None:
        self.prompt_edit.submitted.connect(self._request_generate)
        self.negative_edit.submitted.connect(self._request_generate)
        self.generate_button.clicked.connect(self._request_generate)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.model_combo.model_changed.connect(self._on_size_changed)
        self.size_combo.currentIndexChanged.connect(self._on_size_changed)
        for spin in (self.width_spin, self.height_spin):
            spin.valueChanged.connect(self._update_size_hint)
            spin.valueChanged.connect(self._update_hires_size)
        self.hires_group.changed.connect(self._on_hires_changed)
        self.img2img_group.toggled.connect(self.hires_group.set_start_image)
        self.prompt_edit.textChanged.connect(self._on_prompt_changed)

    def _on_prompt_changed(self) -> None:
        self.lora_list.set_prompt_tags(split_lora_tags(self.prompt_edit.toPlainText())[1])

    def _set_tab_order(self) -> None:
        chain = [
            self.prompt_edit,
            self.negative_edit,
            self.run_on.combo,
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
            self.hires_group,
            self.hires_group.upscaler_combo,
            self.hires_group.scale_spin,
            self.hires_group.steps_spin,
            self.hires_group.denoise_spin,
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
            is_generate_key(event) or is_cancel_key(event)  # type: ignore[arg-type]
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if is_generate_key(event):
            event.accept()
            self._request_generate()
        elif is_cancel_key(event):
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
        """The library's models as (display, value) pairs (see `ModelPicker.set_models`): in
        the picker unless a server is chosen to run on (which lists its own)."""
        self.run_on.set_local_models(models, current)

    def _model_value(self) -> str:
        return self.model_combo.value()

    # -- size -----------------------------------------------------------------------------------

    def _fill_sizes(self, native: int | None, starter: bool) -> None:
        """The size list for a model of native side `native`: Model default, presets that suit
        it (the `starter` model's hires fix one first), Custom. The chosen size is kept (as
        Custom when the new list lacks its preset)."""
        if (native, starter) == self._presets_for:
            return
        self._presets_for = (native, starter)
        previous = self.size_combo.currentData()
        width, height = self.width_spin.value(), self.height_spin.value()
        presets = size_presets(native)
        sizes = [("Model default", SIZE_DEFAULT, "The model's native size, or the start image's")]
        if starter:
            final = int(STARTER_SIDE * STARTER_HIRES_SCALE)
            sizes.append(
                (
                    f"{final} × {final} ({STARTER_SIDE} px + hires fix ×{STARTER_HIRES_SCALE:g})",
                    SIZE_STARTER_HIRES,
                    f"Draw at the starter model's own {STARTER_SIDE} × {STARTER_SIDE}, then "
                    f"enlarge it ×{STARTER_HIRES_SCALE:g} with the built-in Real-ESRGAN: a crisp "
                    f"{final} × {final} picture. Turns hires fix on, enlarging only (the starter "
                    "model draws nonsense when asked to repaint at 256 px).",
                )
            )
        sizes += [(f"{w} × {h}", _size_key(w, h), tip) for w, h, tip in presets]
        sizes.append(("Custom", SIZE_CUSTOM, "Type a width and height (multiples of 8)"))
        self.size_combo.blockSignals(True)
        try:
            self.size_combo.clear()
            for text, key, tip in sizes:
                self.size_combo.addItem(text, key)
                self.size_combo.setItemData(
                    self.size_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
                )
            index = self.size_combo.findData(previous) if previous else 0
            if index < 0:  # a preset of the other model: the same size, typed in
                index = self.size_combo.findData(SIZE_CUSTOM)
            self.size_combo.setCurrentIndex(max(index, 0))
        finally:
            self.size_combo.blockSignals(False)
        if previous not in (None, SIZE_DEFAULT):
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)

    def _on_size_changed(self, *_: object) -> None:
        model = self._model_value()
        native = self._native_sizes.get(model)
        self._fill_sizes(native, starter=model == BUILTIN_MODEL)
        key = self.size_combo.currentData()
        previous, self._chosen_size = self._chosen_size, key
        custom = key == SIZE_CUSTOM
        self.width_spin.setEnabled(custom)
        self.height_spin.setEnabled(custom)
        if key == SIZE_STARTER_HIRES:
            self.width_spin.setValue(STARTER_SIDE)
            self.height_spin.setValue(STARTER_SIDE)
            # hires fix already on at this scale keeps the artist's other hires settings
            if not self._starter_hires_on():
                self.hires_group.use(
                    STARTER_HIRES_SCALE, HIRES_DEFAULT_UPSCALER, STARTER_HIRES_DENOISE
                )
        elif isinstance(key, str) and "x" in key and key not in (SIZE_DEFAULT, SIZE_CUSTOM):
            width, height = (int(part) for part in key.split("x"))
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)
        if key == SIZE_DEFAULT and native:
            self.width_spin.setValue(native)
            self.height_spin.setValue(native)
        if previous == SIZE_STARTER_HIRES != key and self._starter_hires_on():
            self.hires_group.setChecked(False)  # it came with the preset, and goes with it
        self._update_size_hint()
        self._update_hires_size()

    def _starter_hires_on(self) -> bool:
        return (
            self.hires_group.isChecked()
            and self.hires_group.scale_spin.value() == STARTER_HIRES_SCALE
        )

    def _on_hires_changed(self) -> None:
        """Hires fix turned off or rescaled: the starter's hires preset no longer says what
        the form makes, so the size becomes the plain 64 × 64 it draws at."""
        if self.size_combo.currentData() == SIZE_STARTER_HIRES and not self._starter_hires_on():
            self._set_size(STARTER_SIDE, STARTER_SIDE)

    def _update_hires_size(self, *_: object) -> None:
        known = self.size_combo.currentData() != SIZE_DEFAULT or self._native_sizes.get(
            self._model_value()
        )
        if known:
            self.hires_group.set_base_size(self.width_spin.value(), self.height_spin.value())
        else:
            self.hires_group.set_base_size(None, None)

    def _update_size_hint(self, *_: object) -> None:
        """Say in words when the size is far from the model's native one (and why it matters)."""
        native = self._native_sizes.get(self._model_value())
        key = self.size_combo.currentData()
        warning = None
        if key != SIZE_DEFAULT:
            warning = size_warning(self.width_spin.value(), self.height_spin.value(), native)
        self.size_hint.setText(f"⚠ {warning}" if warning else "")
        self.size_hint.setVisible(bool(warning))

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
        self.seed_field.set_last(seed)

    def _set_scheduler(self, name: str | None) -> None:
        index = self.sampler_combo.findData(name) if name else -1
        self.sampler_combo.setCurrentIndex(max(index, 0))

    # -- requests ---------------------------------------------------------------------------------

    def build_request(self) -> GenerationRequest:
        """A request from the form; an `InvalidRequest` (the core's message) if a value is bad."""
        width, height = self._size()
        img2img = self.img2img_group.isChecked()
        init_image = self.image_drop.path() if img2img else None
        request = GenerationRequest(
            **self.shared_values(),
            width=width,
            height=height,
            init_image=init_image,
            strength=self.img2img_group.strength(),
            **self.hires_group.values(),
        )
        if img2img and init_image is None:
            raise InvalidRequest(
                "No start image: drop an image on the box or choose one, or untick "
                "“Start from an image”."
            )
        return request

    def shared_values(self) -> dict[str, Any]:
        """The request keys every picture job of this form takes (an inpainting job too): all but
        the size, the start image and hires fix, which belong to making a new picture."""
        return {
            "prompt": self.prompt_edit.toPlainText().strip(),
            "negative_prompt": self.negative_edit.toPlainText().strip(),
            "model": self._model_value(),
            "steps": self.steps_spin.value(),
            "guidance": float(self.guidance_spin.value()),
            "seed": self.seed_field.value(),
            "scheduler": self.sampler_combo.currentData(),
            "count": self.count_spin.value(),
            "loras": self.lora_list.loras(),
            **self.advanced_group.values(),
            "backend": self.run_on.value(),
        }

    def load_request(self, request: GenerationRequest) -> None:
        """Show `request` in the form, so that `build_request()` gives it back."""
        self._load_values(request.to_dict(), trusted=True)

    def load_shared(self, request: GenerationRequest) -> None:
        """Show the `shared_values()` keys of `request` (an inpainting job's); the size, the
        start image and hires fix stay as they are."""
        values = request.to_dict()
        for key in ("width", "height", "init_image", "strength"):
            values.pop(key, None)
        self._load_values(
            {k: v for k, v in values.items() if not k.startswith("hires_")}, trusted=True
        )

    def load_image_settings(self, settings: ImageSettings) -> list[str]:
        """Fill the form from the settings an image carries (any format `read_settings`
        knows), and return sentences about what could not be taken.

        Values the form cannot hold are left as they were. A sampler we don't have becomes
        "Model default" (and says so). The model is the one our own JSON names, or the library
        model with the file name another tool wrote (any folder, suffix or case); a model the
        library lacks is named in a note and the form keeps its own. The LoRA rows become the
        picture's LoRAs, matched to the library by file name; the strength is set only from an
        image-to-image job.
        """
        notes: list[str] = []
        values = settings.request_values()
        if "model" not in values and settings.model:
            found = self.model_combo.library_value(settings.model)
            if found is not None:
                values["model"] = found
            else:
                notes.append(
                    f"The picture was made with the model {settings.model}, which is not in "
                    "your library: the form keeps the model it had."
                )
        values["scheduler"] = settings.scheduler()
        sampler_note = settings.sampler_note()
        if sampler_note:
            notes.append(sampler_note)
        loras = []
        for name, weight in settings.loras[:MAX_LORAS]:
            if in_range(weight, -MAX_LORA_WEIGHT, MAX_LORA_WEIGHT):
                loras.append((self.lora_list.library_name(name), float(weight)))
        values["loras"] = loras
        # A picture that names no hires fix had none; one that names no hires steps (A1111
        # leaves out its 0) made as many as the first pass.
        values.setdefault("hires_scale", None)
        if values["hires_scale"] is not None:
            values.setdefault("hires_steps", None)
        missing = [name for name, _ in loras if not self.lora_list.has(name)]
        if missing:
            notes.append(
                f"Not in your library: LoRA {', '.join(missing)}. Put the file in models/loras "
                "before generating."
            )
        notes += self._load_values(values, trusted=False)
        return notes

    def _load_values(self, values: dict, *, trusted: bool) -> list[str]:
        """Fill the widgets from a request's keys (`GenerationRequest.to_dict()`); keys that are
        missing, and values the form cannot hold, leave their widget as it is.

        `trusted` values come from a request (every key there, each valid): a model not in the
        list is added, and an init image is shown even when its file has gone.
        """
        if "backend" in values:  # first: a server's choice changes what the model list holds
            self.run_on.select(values["backend"])
        for key, edit in (("prompt", self.prompt_edit), ("negative_prompt", self.negative_edit)):
            if isinstance(values.get(key), str):
                edit.setPlainText(values[key])
        model = values.get("model")
        if trusted and isinstance(model, str) and model:
            self.model_combo.select(model, add=True)
        else:
            self.model_combo.select_known(model)
        if "width" in values or "height" in values:
            width, height = values.get("width"), values.get("height")
            if width is None and height is None:
                self._set_size(None, None)
            elif all(
                v is None or in_range(v, MIN_SPIN_SIZE, MAX_SPIN_SIZE, whole=True)
                for v in (width, height)
            ):
                self._set_size(width, height)
        for key, spin in (("steps", self.steps_spin), ("count", self.count_spin)):
            if in_range(values.get(key), spin.minimum(), spin.maximum(), whole=True):
                spin.setValue(values[key])
        if in_range(values.get("guidance"), 0, MAX_GUIDANCE):
            self.guidance_spin.setValue(float(values["guidance"]))
        if "scheduler" in values:
            self._set_scheduler(values["scheduler"])
        if "seed" in values:
            self.seed_field.set_value(values["seed"])
        if "init_image" in values:
            self._set_init_image(values["init_image"], trusted)
        if in_range(values.get("strength"), 0.01, 1):
            self.img2img_group.set_strength(float(values["strength"]))
        if isinstance(values.get("loras"), (list, tuple)):
            # a hand-edited or old saved form: keep the rows as they are
            with contextlib.suppress(InvalidRequest):
                self.lora_list.set_loras(GenerationRequest(prompt="x", loras=values["loras"]).loras)
        notes = self.advanced_group.set_values(values)
        return notes + self.hires_group.set_values(values, trusted=trusted)

    def _set_init_image(self, path: object, trusted: bool) -> None:
        if path is None:
            self.image_drop.set_path(None)
            self.img2img_group.setChecked(False)
        elif isinstance(path, str) and (trusted or Path(path).is_file()):
            self.image_drop.set_path(path)
            self.img2img_group.setChecked(True)

    # -- suggestions and status -------------------------------------------------------------

    def load_model(self, name: str) -> None:
        """Select model `name` in the picker (added to it if it is a path not listed)."""
        self.model_combo.select(name, add=True)

    def native_size(self, model: str) -> int | None:
        """The native picture size of library model `model`, when known."""
        return self._native_sizes.get(model)

    def set_native_sizes(self, sizes: dict[str, int]) -> None:
        """Each model's native picture size, shown greyed while the size is "Model default"."""
        self._native_sizes = dict(sizes)
        self._on_size_changed()

    def set_loras_available(self, names: list[str]) -> None:
        """The LoRAs in the library, for the LoRA rows (a server chosen lists its own)."""
        self.run_on.set_local_loras(names)

    def set_prompt_words(self, words: list[str]) -> None:
        """Words both prompt boxes complete as they are typed (embeddings, wildcards)."""
        for edit in (self.prompt_edit, self.negative_edit):
            if edit.suggestions is None:
                edit.suggestions = PromptSuggestions(edit)
            edit.suggestions.set_words(words)

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
        """The form as a request's keys (as typed, valid or not) plus the UI-only keys, JSON-able,
        for restoring the form at the next start."""
        return {
            "version": FORM_STATE_VERSION,
            "prompt": self.prompt_edit.toPlainText(),
            "negative_prompt": self.negative_edit.toPlainText(),
            "model": self._model_value(),
            "width": self.width_spin.value(),
            "height": self.height_spin.value(),
            "steps": self.steps_spin.value(),
            "guidance": float(self.guidance_spin.value()),
            "scheduler": self.sampler_combo.currentData(),
            "seed": int(self.seed_edit.text()) if self.seed_edit.text().strip() else None,
            "count": self.count_spin.value(),
            "init_image": self.image_drop.path(),
            "strength": self.img2img_group.strength(),
            "loras": [list(item) for item in self.lora_list.loras()],
            **self.advanced_group.state(),
            **self.hires_group.state(),
            "backend": self.run_on.value(),
            "size": self.size_combo.currentData(),
            "img2img": self.img2img_group.isChecked(),
            "hires": self.hires_group.isChecked(),
        }

    def restore_form_state(self, state: dict) -> None:
        """Restore `form_state()` output; unknown keys and unusable values are skipped."""
        if not isinstance(state, dict):
            return
        values = {k: v for k, v in state.items() if k not in _UI_KEYS}
        if values.get("init_image") is None:
            values.pop("init_image", None)  # no picture saved: leave the box as it is
        self._load_values(values, trusted=False)
        if isinstance(state.get("hires"), bool):
            self.hires_group.setChecked(state["hires"])
        size = state.get("size")
        if isinstance(size, str) and self.size_combo.findData(size) >= 0:
            width, height = self.width_spin.value(), self.height_spin.value()
            self.size_combo.setCurrentIndex(self.size_combo.findData(size))
            if size == SIZE_CUSTOM:
                self.width_spin.setValue(width)
                self.height_spin.setValue(height)
        if isinstance(state.get("img2img"), bool) and (
            self.image_drop.path() is not None or not state["img2img"]
        ):
            self.img2img_group.setChecked(state["img2img"])
        self._on_size_changed()  # "Model default" shows the restored model's size
