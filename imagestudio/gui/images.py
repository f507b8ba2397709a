"""Image helpers for the GUI: numpy arrays and files -> QImage (safe off the GUI thread)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QSize, Qt
from PySide6.QtGui import QImage, QImageReader


def qimage_from_array(array: np.ndarray) -> QImage:
    """A uint8 (h, w, 3) RGB array -> an independent QImage (the array may be freed after)."""
    rgb = np.ascontiguousarray(array, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) RGB array, got shape {rgb.shape}")
    height, width, _ = rgb.shape
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer


def load_thumbnail(path: str | Path, size: int = 128) -> QImage:
    """A thumbnail of an image file, decoded at reduced size; a null QImage if unreadable."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    original = reader.size()
    if original.isValid():
        reader.setScaledSize(original.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    return reader.read()


def image_suffixes() -> set[str]:
    """The file suffixes of every image format Qt can read here ('.png', '.jpg', ...)."""
    return {
        "." + bytes(fmt.data()).decode("ascii", "ignore").lower()
        for fmt in QImageReader.supportedImageFormats()
    }


def image_path_from_mime(mime: QMimeData) -> str | None:
    """The first local image file among the dragged URLs, or None."""
    if not mime.hasUrls():
        return None
    suffixes = image_suffixes()
    for url in mime.urls():
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.suffix.lower() in suffixes and path.is_file():
            return str(path)
    return None
