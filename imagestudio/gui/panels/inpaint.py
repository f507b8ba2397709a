"""Inpainting and outpainting from the window: the picture on the canvas, its painted mask, the
Generate form's prompt and settings, and the "Inpaint" group, as one `InpaintRequest`.

While the canvas is in mask mode the Generate form becomes the inpainting form: its Inpaint group
shows, its button says "Inpaint" (Ctrl+Enter too), and hires fix, the start image and the size,
which belong to making a new picture, step aside. The painted mask goes to the job as the core's
kept copy in the masks folder (`keep_mask`: named by its content, written once per version of
the mask), so every history row of the job, done, failed or cancelled, names a file that stays.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Signal
from PySide6.QtGui import QImage, QImageReader
from PySide6.QtWidgets import QBoxLayout, QWidget

from imagestudio.core.errors import InvalidRequest, StorageError
from imagestudio.core.generation.job import keep_mask_bytes
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import InpaintRequest
from imagestudio.gui.widgets.inpaint_group import InpaintGroup
from imagestudio.gui.widgets.mask_layer import MaskLayer, mask_values_from_image
from imagestudio.gui.widgets.prompt_edit import key_text

if TYPE_CHECKING:
    from imagestudio.core.outcomes import JobOutcome
    from imagestudio.gui.panels.canvas import Canvas
    from imagestudio.gui.panels.prompt import PromptPanel

log = logging.getLogger(__name__)

EMPTY_MASK = "The mask is empty: paint the part to repaint."
NO_PICTURE = "Show the picture to change first: a result, a history entry or a dropped file."
NO_FILE = (
    "This picture has no file yet: keep it first (Keep this picture), then inpaint or extend it."
)


class InpaintForm(QObject):
    """The inpainting form: a `JobForm` for kind "inpaint" over the Generate form and canvas."""

    outpaint_requested = Signal(object)  # (left, top, right, bottom)

    def __init__(self, prompt: PromptPanel, canvas: Canvas) -> None:
        super().__init__(prompt)
        self._prompt = prompt
        self._canvas = canvas
        self._mask = canvas.mask_editor
        self.group = InpaintGroup(prompt)
        self.group.hide()
        self.group.extend_requested.connect(self.outpaint_requested)
        # Right under the prompts: in mask mode they and the group are what the artist works on.
        layout = prompt.layout()
        if isinstance(layout, QBoxLayout):
            layout.insertWidget(layout.indexOf(prompt.negative_edit) + 1, self.group)
        group = self.group
        chain = [
            prompt.negative_edit,
            group.strength_slider,
            group.blur_spin,
            group.fill_combo,
            group.area_combo,
            group.padding_spin,
            *group.extend_buttons.values(),
            group.extend_spin,
            prompt.model_combo,
        ]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)
        self._cached: tuple[MaskLayer, int, Path] | None = None  # the file of a mask version
        self._mask.mode_changed.connect(self._on_mode_changed)

    # -- mask mode ----------------------------------------------------------------------------

    def active(self) -> bool:
        """Mask mode is on: Generate (and Ctrl+Enter) inpaint."""
        return self._mask.is_on()

    def _on_mode_changed(self, on: bool) -> None:
        prompt = self._prompt
        self.group.setVisible(on)
        for group in (prompt.hires_group, prompt.img2img_group):
            group.setVisible(not on)
        for widget in (prompt.size_combo, prompt.width_spin, prompt.height_spin):
            widget.setEnabled(not on)
        keys = key_text("Ctrl+Enter")
        if on:
            prompt.generate_button.setText("Inpaint")
            prompt.generate_button.setToolTip(
                f"Repaint the masked part of the picture on the canvas ({keys}). "
                "Leave mask mode (M) to make new pictures."
            )
        else:
            prompt.generate_button.setText("Generate")
            prompt.generate_button.setToolTip(f"Make images with these settings ({keys}).")

    # -- requests -----------------------------------------------------------------------------

    def _picture_path(self) -> str:
        """The file of the picture on the canvas; InvalidRequest with what to do without one."""
        if self._mask.picture() is None:
            raise InvalidRequest(NO_PICTURE)
        path = self._canvas.current_path()
        if not path:
            raise InvalidRequest(NO_FILE)
        return path

    def _base(self) -> dict[str, Any]:
        values = self._prompt.shared_values()
        # Variations start a new picture from noise: not a thing an edit of a picture does.
        values.update(variation_seed=None, variation_strength=0.0)
        return {**values, **self.group.values()}

    def build_request(self) -> InpaintRequest:
        """The inpainting job of the canvas picture and its mask; InvalidRequest (shown as is)
        when there is no picture, the mask is empty or a value is bad."""
        picture = self._picture_path()
        layer = self._mask.layer()
        if layer is None or layer.is_empty():
            raise InvalidRequest(EMPTY_MASK)
        # Checked before the mask is written (the checks never open files), so a bad value
        # leaves no file behind; `replace` checks again with the real path.
        unsaved = str(app_paths().masks_dir / "unsaved.png")
        request = InpaintRequest(**self._base(), init_image=picture, mask=unsaved)
        return request.replace(mask=str(self._mask_file(layer)))

    def build_outpaint_request(self, extend: tuple[int, int, int, int]) -> InpaintRequest:
        """The job that extends the canvas picture by `extend` (left, top, right, bottom)."""
        return InpaintRequest(**self._base(), init_image=self._picture_path(), extend=extend)

    def _mask_file(self, layer: MaskLayer) -> Path:
        """The mask as a PNG in the masks folder, written once per version of it."""
        cached = self._cached
        if (
            cached is not None
            and cached[0] is layer
            and cached[1] == layer.revision
            and cached[2].is_file()
        ):
            return cached[2]
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        # 50: about 30 ms for a 2048² mask, once per Inpaint press (never while painting)
        if not layer.mask.save(buffer, "PNG", 50):  # type: ignore[call-overload]
            raise InvalidRequest("The mask could not be turned into a PNG file.")
        buffer.close()
        try:
            # the core's kept copy (named by its content) from the start: the history row of
            # the job, also a failed or cancelled one, names a file that stays
            kept = keep_mask_bytes(bytes(data.data()), app_paths().masks_dir)
        except (StorageError, OSError) as exc:
            raise InvalidRequest(f"The mask could not be saved for the job: {exc}") from exc
        self._cached = (layer, layer.revision, kept)
        return kept

    # -- loading a job back -------------------------------------------------------------------

    def load_request(self, request: InpaintRequest) -> None:
        """The job's settings in the Generate form and the Inpaint group (its picture and mask
        come with `show_picture_of` / `restore_mask`)."""
        self._prompt.load_shared(request)
        self.group.set_values(request.to_dict())

    def show_picture_of(self, request: InpaintRequest, fallback: str | None = None) -> None:
        """The picture the job changed on the canvas, in mask mode with the job's mask when its
        file is still there; `fallback` (the job's result) when the picture has gone."""
        picture = request.init_image
        if picture and Path(picture).is_file():
            self._canvas.show_result(picture)
            self.restore_mask(request)
            return
        if fallback and Path(fallback).is_file():
            self._canvas.show_result(fallback)
        self._canvas.show_error(
            f"The picture this job changed, {picture}, is no longer on disk: its settings are "
            "in the form."
        )

    def restore_mask(self, request: InpaintRequest) -> bool:
        """Mask mode on the picture on show, with `request`'s mask when its file is there and
        fits the picture. True when the mask was loaded."""
        self._mask.set_on(True)
        picture = self._mask.picture()
        if not request.mask or picture is None:
            return False
        values = read_mask(request.mask, picture)
        if values is None:
            self._canvas.show_error(
                f"The mask of this job, {request.mask}, is no longer there: paint it again."
            )
            return False
        self._mask.set_mask(values)
        return True

    def carry_mask(self, request: object) -> None:
        """A finished inpainting job's result is on show: its mask goes on it (same size), so
        the artist can repaint the same part again."""
        if not isinstance(request, InpaintRequest) or request.is_outpaint or not request.mask:
            return
        picture = self._mask.picture()
        if picture is None:
            return
        values = read_mask(request.mask, picture, stretch=False)
        if values is not None:
            self._mask.set_mask(values)

    # -- JobForm ------------------------------------------------------------------------------

    def show_outcome(self, outcome: JobOutcome) -> None:
        self._prompt.show_outcome(outcome)

    def set_busy(self, running: bool, queued: int) -> None:
        """The Generate form's Cancel and queue count say it (the same button starts both)."""

    def form_state(self) -> dict:
        return self.group.state()

    def restore_form_state(self, state: dict) -> None:
        if isinstance(state, dict):
            self.group.set_values(state)


def read_mask(path: str, picture: QImage, *, stretch: bool = True) -> np.ndarray | None:
    """The mask file at `path` as values for `picture` (None when it is gone or unreadable, or,
    without `stretch`, of another size)."""
    reader = QImageReader(path)
    image = reader.read()
    if image.isNull():
        return None
    if not stretch and image.size() != picture.size():
        return None
    return mask_values_from_image(image, picture.width(), picture.height())
