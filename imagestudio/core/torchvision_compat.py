"""Make `import torchvision` work where its compiled ops do not match the installed torch.

PyPI's Linux torchvision wheels are built against CUDA torch. Beside a CPU-only torch (CI, and
machines set up with constraints/cpu.txt) their compiled ops do not load, and torchvision's own
import then fails ("operator torchvision::nms does not exist") because it registers fake
implementations for two ops without checking they exist. diffusers and transformers import
torchvision when it is installed, and spandrel (the upscalers) always does, so that one failure
would stop the whole model stack.

Nothing ImageStudio runs uses torchvision's compiled ops (detection boxes, RoI pooling,
deformable convolutions); its Python parts (transforms) work without them. So, only when the
import fails for exactly this reason, the two op schemas are declared, with no kernels (calling
them still fails with torch's own error), and the import is tried again.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_LIBRARY: Any = None  # kept alive: dropping it would undefine the schemas


def ensure_torchvision_importable() -> bool:
    """Import torchvision (repairing the case above); False if it is not installed."""
    global _LIBRARY
    try:
        import torchvision
    except ImportError:
        return False
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        with _LOCK:
            if _LIBRARY is None:
                import torch

                log.info("torchvision's compiled ops do not load (%s); going on without", exc)
                for name in [m for m in sys.modules if m.startswith("torchvision")]:
                    del sys.modules[name]  # the half-imported package
                library = torch.library.Library("torchvision", "DEF")
                library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
                library.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
                _LIBRARY = library
        import torchvision  # noqa: F401
    return True
