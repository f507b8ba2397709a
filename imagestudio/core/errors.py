"""Domain errors. Each message is a sentence a person can act on; the GUI and CLI show it as is."""

from __future__ import annotations


class ImageStudioError(Exception):
    """Base class for every error the app reports to the user."""


class InvalidRequest(ImageStudioError, ValueError):
    """A request holds a value the engine cannot use (bad size, steps out of range...)."""


class ModelError(ImageStudioError):
    """A model is missing, broken, or in a format that cannot be loaded."""


class ImageError(ImageStudioError):
    """An input image (img2img, style) is missing or unreadable."""


class OutOfMemory(ImageStudioError):
    """The device ran out of memory; the message says what would help."""


class StorageError(ImageStudioError):
    """An output or data file could not be written or read."""


class HistoryError(ImageStudioError):
    """The history database could not be opened or written."""


class BackendError(ImageStudioError):
    """A ComfyUI server could not be reached, refused the job, or failed it (a sentence that
    names the server, and the field or node; never its token)."""


class BackendModelError(BackendError, ModelError):
    """A ComfyUI server lacks the checkpoint, LoRA or upscaler a job names."""


class JobCancelled(Exception):
    """Raised from the step callback when the user cancels. An outcome, not an error.

    `partial` is what the job had made so far when that is worth keeping (a quality-mode
    style picture part-way through: a PIL image from the engine, a Product from the job)."""

    def __init__(self, message: str = "", partial: object = None) -> None:
        super().__init__(message)
        self.partial = partial
