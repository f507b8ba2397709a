"""Fast mode: arbitrary style transfer in one pass (Ghiasi et al. 2017, Magenta).

Two small int8 networks run through onnxruntime, both NHWC float32 in 0..1:

- the style predictor (MobileNetV2) turns a 256x256 style image into a 100-number style vector;
- the transformer repaints a content image of any size (multiple of 4) with that vector.

The files live in `resources/style/magenta/` (origin, checksums and licence in its README).
"""

from __future__ import annotations

import math
import numbers
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from imagestudio.core.errors import ImageError, InvalidRequest, ModelError, OutOfMemory
from imagestudio.core.paths import resources_dir

if TYPE_CHECKING:
    import onnxruntime

PREDICT_FILE = "arbitrary_predict.onnx"
TRANSFORM_FILE = "arbitrary_transform.onnx"
STYLE_SIZE = 256  # the predictor's input is fixed at 256x256, the size Magenta trained it on
STYLE_VECTOR_LENGTH = 100
MIN_SIZE = 64
MAX_SIZE = 4096
# Two stride-2 convolutions then two 2x upsamplings: other sides come back rounded up to a multiple
# of 4, so we pad to one and crop. The first layer reflection-pads by 4 px, which onnxruntime
# refuses on a side of 4 or less; a thin strip is padded up to 8.
_SIDE_MULTIPLE = 4
_MIN_NETWORK_SIDE = 8
# Preferred first; onnxruntime only lists the providers its build has.
_PROVIDER_ORDER = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider")
_REINSTALL = "reinstall ImageStudio"


def default_model_dir() -> Path:
    return resources_dir() / "style" / "magenta"


class FastStylizer:
    """Magenta's arbitrary-style networks, loaded lazily once and reused.

    Safe to call from a worker thread (or several): loading is guarded by a lock and onnxruntime
    sessions may run concurrently. Every failure is raised as an `ImageStudioError` subclass.
    """

    def __init__(self, model_dir: Path | None = None, *, threads: int = 0) -> None:
        """`threads` is onnxruntime's intra-op thread count; 0 lets it use one per core."""
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.threads = threads
        self._lock = threading.Lock()
        self._predict: onnxruntime.InferenceSession | None = None
        self._transform: onnxruntime.InferenceSession | None = None

    # -- public API ---------------------------------------------------------------------------

    def load(self) -> None:
        """Open both sessions now (otherwise the first call does), so errors surface early."""
        self._sessions()

    @property
    def providers(self) -> list[str]:
        """The execution providers the transformer really runs on, best first."""
        return list(self._sessions()[1].get_providers())

    def style_vector(self, image: Image.Image) -> np.ndarray:
        """The style of `image` as a float32 vector of length 100 (centre square, 256x256)."""
        _check_image(image, "style")
        predict, _ = self._sessions()
        pixels = _to_array(_centre_square(_rgb(image), STYLE_SIZE))
        (vector,) = _run(predict, None, {"style_image": pixels[None]})
        return np.asarray(vector, dtype=np.float32).reshape(STYLE_VECTOR_LENGTH)

    def transform(
        self, content: Image.Image, vector: np.ndarray, *, size: int = 512
    ) -> Image.Image:
        """Repaint `content` with a style vector; the result's long side is `size` px."""
        _check_image(content, "content")
        _check_size(size)
        vector = np.asarray(vector, dtype=np.float32)
        if vector.size != STYLE_VECTOR_LENGTH or not np.all(np.isfinite(vector)):
            raise InvalidRequest(
                f"A style vector must hold {STYLE_VECTOR_LENGTH} finite numbers (this one has "
                f"{vector.size}, finite: {bool(np.all(np.isfinite(vector)))}); "
                "make it with style_vector()."
            )
        _, transform = self._sessions()
        width, height = _fit_long_side(content.size, int(size))
        pixels = _to_array(_rgb(content).resize((width, height), Image.Resampling.LANCZOS))
        # At most 3 px (or up to 8 on a thin strip), cropped off again; repeating the border adds
        # no new shapes for the network to paint.
        padded = np.pad(pixels, _padding(height, width), mode="edge")
        feeds = {
            "content_image": padded[None],
            "mobilenet_conv/Conv/BiasAdd": vector.reshape(1, 1, 1, STYLE_VECTOR_LENGTH),
        }
        (out,) = _run(transform, size, feeds)
        out = np.asarray(out)[0, :height, :width]
        return Image.fromarray(np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8))

    def stylize(
        self,
        content: Image.Image,
        style: Image.Image,
        *,
        strength: float = 1.0,
        size: int = 512,
    ) -> Image.Image:
        """Repaint `content` in the style of `style`; an RGB image whose long side is `size` px.

        `strength` (0..1) mixes the style image's vector with the content's own, as Magenta
        documents: 1 is the full style; 0 repaints the content in its own style, close to it but
        not identical (softer, colours shifted a little). Mixing in vector space looks better than
        fading pixels, which would only lay one picture over the other.
        """
        _check_strength(strength)
        _check_size(size)
        _check_image(content, "content")
        _check_image(style, "style")
        vector = self.style_vector(style)
        if strength < 1.0:
            mix = float(strength)
            vector = mix * vector + (1.0 - mix) * self.style_vector(content)
        return self.transform(content, vector, size=size)

    # -- sessions -------------------------------------------------------------------------------

    def _sessions(self) -> tuple[onnxruntime.InferenceSession, onnxruntime.InferenceSession]:
        with self._lock:
            if self._predict is None or self._transform is None:
                ort = _import_onnxruntime()
                self._predict = self._open(ort, PREDICT_FILE, ["style_image"])
                self._transform = self._open(
                    ort, TRANSFORM_FILE, ["content_image", "mobilenet_conv/Conv/BiasAdd"]
                )
            return self._predict, self._transform

    def _open(
        self, ort: Any, filename: str, expected_inputs: list[str]
    ) -> onnxruntime.InferenceSession:
        path = self.model_dir / filename
        if not path.is_file():
            raise ModelError(f"The fast style model is missing from {path}; {_REINSTALL}.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3  # errors only: provider notices would flood the log
        available = set(ort.get_available_providers())
        providers = [name for name in _PROVIDER_ORDER if name in available] or [
            "CPUExecutionProvider"
        ]
        try:
            session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:
            if providers == ["CPUExecutionProvider"]:
                raise ModelError(
                    f"The fast style model {path} is damaged and cannot be loaded ({_short(exc)}); "
                    f"{_REINSTALL}."
                ) from exc
            # A GPU provider whose libraries are missing or broken: CPU still works.
            try:
                session = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as cpu_exc:
                raise ModelError(
                    f"The fast style model {path} is damaged and cannot be loaded "
                    f"({_short(cpu_exc)}); {_REINSTALL}."
                ) from cpu_exc
        names = [node.name for node in session.get_inputs()]
        if names != expected_inputs:
            raise ModelError(
                f"The fast style model {path} is not the one ImageStudio ships (its inputs are "
                f"{', '.join(names)}); {_REINSTALL}."
            )
        return session


# -- helpers ------------------------------------------------------------------------------------


def _import_onnxruntime() -> Any:
    # Imported on first use, so importing the style package (and opening the window) stays light.
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError(
            "Fast style transfer needs the onnxruntime package, which is not installed; "
            f"{_REINSTALL} or run `pip install onnxruntime`."
        ) from exc
    return onnxruntime


def _run(
    session: onnxruntime.InferenceSession, size: int | None, feeds: dict[str, np.ndarray]
) -> list[Any]:
    try:
        return list(session.run(None, feeds))
    except MemoryError as exc:
        raise _out_of_memory(size) from exc
    except Exception as exc:
        text = str(exc)
        if "alloc" in text.lower() or "out of memory" in text.lower():
            raise _out_of_memory(size) from exc
        raise ModelError(f"The fast style model failed while running: {_short(exc)}.") from exc


def _out_of_memory(size: int | None) -> OutOfMemory:
    at = f" at {size} px" if size else ""
    return OutOfMemory(f"Not enough memory to apply the style{at}; choose a smaller size.")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _check_strength(strength: float) -> None:
    real = isinstance(strength, numbers.Real) and not isinstance(strength, bool)
    if not real or not 0.0 <= strength <= 1.0:  # NaN fails the comparison too
        raise InvalidRequest(f"Style strength must be between 0 and 1; got {strength!r}.")


def _check_size(size: int) -> None:
    whole = isinstance(size, numbers.Integral) and not isinstance(size, bool)
    if not whole or not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidRequest(
            f"The output size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}; "
            f"got {size!r}."
        )


def _check_image(image: Image.Image, role: str) -> None:
    if not isinstance(image, Image.Image):
        raise InvalidRequest(f"The {role} picture must be an image; got {type(image).__name__}.")
    if image.width < 1 or image.height < 1:
        raise ImageError(f"The {role} picture is empty ({image.width}x{image.height} px).")


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255.0


def _centre_square(image: Image.Image, side: int) -> Image.Image:
    # Magenta feeds the predictor a centre crop; squashing a wide painting would stretch strokes.
    short = min(image.size)
    left = (image.width - short) // 2
    top = (image.height - short) // 2
    square = image.crop((left, top, left + short, top + short))
    return square.resize((side, side), Image.Resampling.LANCZOS)


def _fit_long_side(original: tuple[int, int], size: int) -> tuple[int, int]:
    width, height = original
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _padding(height: int, width: int) -> tuple[tuple[int, int], ...]:
    def extra(side: int) -> int:
        target = max(_MIN_NETWORK_SIDE, math.ceil(side / _SIDE_MULTIPLE) * _SIDE_MULTIPLE)
        return target - side

    return ((0, extra(height)), (0, extra(width)), (0, 0))
