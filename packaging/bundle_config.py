"""What goes into the bundle and what stays out; read by imagestudio.spec and build.py.

Kept apart from the spec so the rules can be read (and printed by `build.py --explain`) without
running PyInstaller. Python's standard library only: it runs inside PyInstaller's process.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
ICONS = PACKAGING / "icons"

APP_NAME = "ImageStudio"
BUNDLE_ID = "org.imagestudio.ImageStudio"

# PySide6 modules the window never imports (it uses QtCore, QtGui and QtWidgets only).
UNUSED_QT = [
    "QtWebEngineCore",
    "QtWebEngineWidgets",
    "QtWebEngineQuick",
    "QtWebChannel",
    "QtWebSockets",
    "QtWebView",
    "QtQml",
    "QtQuick",
    "QtQuickWidgets",
    "QtQuickControls2",
    "QtQuick3D",
    "Qt3DCore",
    "Qt3DRender",
    "Qt3DInput",
    "Qt3DLogic",
    "Qt3DAnimation",
    "Qt3DExtras",
    "QtMultimedia",
    "QtMultimediaWidgets",
    "QtSpatialAudio",
    "QtPdf",
    "QtPdfWidgets",
    "QtCharts",
    "QtDataVisualization",
    "QtGraphs",
    "QtGraphsWidgets",
    "QtDesigner",
    "QtUiTools",
    "QtHelp",
    "QtLocation",
    "QtPositioning",
    "QtBluetooth",
    "QtNfc",
    "QtSensors",
    "QtSerialPort",
    "QtSerialBus",
    "QtTextToSpeech",
    "QtRemoteObjects",
    "QtScxml",
    "QtStateMachine",
    "QtSql",
    "QtTest",
    "QtHttpServer",
    "QtNetworkAuth",
    "QtCanvasPainter",
]

# The big test-only parts of torch.testing._internal (about 8 MiB of sources).
TORCH_TEST_ONLY = [
    "opinfo",
    "common_methods_invocations",
    "generated",
    "optests",
    "common_modules",
    "common_nn",
    "common_quantization",
    "common_optimizers",
    "distributed._tensor",
    "distributed._shard",
    "distributed.rpc",
    "distributed.nn",
    "distributed.distributed_test",
    "distributed.ddp_under_dist_autograd_test",
]

# Modules that never belong in the app: the training code, test and lint tools, notebooks, and
# the parts of PySide6 the window does not use (it imports only QtCore, QtGui and QtWidgets).
# Anything installed in the build environment but outside the app's own dependency tree is
# excluded as well (see `outside_dependency_tree`), so a developer's virtualenv full of tools
# gives the same bundle as a clean one.
EXCLUDED_MODULES = [
    "imagestudio.dev",
    "pytest",
    "_pytest",
    "pytestqt",
    "pytest_timeout",
    "ruff",
    "mypy",
    "h5py",
    "tensorboard",
    "torch.utils.tensorboard",
    # torch's test suite helpers; torch.testing._internal itself must stay (torch.utils.checkpoint
    # imports its logging_tensor, distributed.fake_pg and common_dtype at import time).
    *(f"torch.testing._internal.{name}" for name in TORCH_TEST_ONLY),
    "IPython",
    "matplotlib",
    "tkinter",
    "_tkinter",
    # Only diffusers' optional "beta sigmas" schedules use scipy; a pip install of ImageStudio
    # does not have it either.
    "scipy",
    "PyInstaller",
    *(f"PySide6.{name}" for name in UNUSED_QT),
]

# Files dropped after analysis (destination paths inside the bundle, fnmatch patterns, "/"
# separators): torch's C++ test programs and test libraries, headers and CMake files, and the
# protobuf compiler, none of which the app runs. torch/bin/torch_shm_manager stays (tensor
# sharing between processes needs it).
DROPPED_FILES = [
    "torch/bin/test_*",
    "torch/bin/*Test",
    "torch/bin/*Test.exe",
    "torch/bin/test_*.exe",
    "torch/bin/protoc*",
    "torch/bin/*.pt",
    "torch/bin/*.ptl",
    "torch/test/*",
    "torch/include/*",
    "torch/share/*",
    "torch/lib/*jitbackend_test*",
    "torch/lib/*torchbind_test*",
    "torch/lib/*aoti_custom_ops*",
    "torch/lib/*backend_with_compiler*",
    "torch/lib/*.lib",
    # Qt's virtual-keyboard input plugin and the PDF image format are the only things that
    # drag in Qt Quick, QML and Qt Pdf (about 20 MiB); the window uses neither. Patterns cover
    # the Linux, Windows and macOS layouts and PyInstaller's top-level symlinks.
    "*qtvirtualkeyboardplugin*",
    "*Qt6VirtualKeyboard*",
    "*QtVirtualKeyboard*",
    "*/imageformats/*qpdf*",
    "*Qt6Pdf*",
    "*QtPdf.framework*",
    "*Qt6Qml*",
    "*QtQml*.framework*",
    "*Qt6Quick*",
    "*QtQuick*.framework*",
    "*/__pycache__/*",
]

# Loaded by name at run time (diffusers' pipeline registry, the scheduler table, the lazy
# imports of the CLI and the window), so PyInstaller's import scan cannot see them.
HIDDEN_PACKAGES = [
    "imagestudio.core",
    "imagestudio.gui",
    "diffusers.schedulers",
    "diffusers.pipelines.stable_diffusion",
    "diffusers.pipelines.stable_diffusion_xl",
    "diffusers.pipelines.latent_consistency_models",
    "diffusers.loaders",  # single-file loading and LoRA (the model library)
    "peft.tuners.lora",
    "transformers.models.clip",
    "spandrel.architectures",  # every upscaler architecture spandrel can load (its registry)
    "dynamicprompts.generators",  # {a|b} and __wildcards__ (core.wildcards, imported lazily)
]
# Packages that read their own data files at import (PyInstaller's scan sees only code):
# `kernels` (required by transformers, imported by diffusers' PEFT loader) opens its
# python_depends.json, and without it diffusers cannot import its pipelines.
DATA_PACKAGES = ["kernels"]
HIDDEN_MODULES = [
    "imagestudio.cli",
    "imagestudio.gui.app",
    "diffusers.pipelines.auto_pipeline",
    "diffusers.pipelines.pipeline_utils",
    "onnxruntime.capi._pybind_state",
]


def version() -> str:
    text = (ROOT / "imagestudio" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not found:
        raise SystemExit("imagestudio/__init__.py has no __version__")
    return found.group(1)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_requirements() -> list[str]:
    """The app's own dependencies as pyproject.toml lists them (not the possibly stale metadata
    of an older editable install)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: fall back to the installed metadata
        return metadata.requires("imagestudio") or []
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def dependency_tree() -> set[str]:
    """Normalised names of the installed distributions that `pip install imagestudio` needs."""
    from packaging.requirements import Requirement

    installed = {_norm(d.metadata["Name"]): d for d in metadata.distributions()}
    seen: set[str] = set()
    todo = [Requirement(r) for r in _project_requirements()]
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        if name in seen or name not in installed:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        seen.add(name)
        for text in installed[name].requires or []:
            sub = Requirement(text)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(sub)
    return seen


def outside_dependency_tree() -> list[str]:
    """Top-level modules installed here that only distributions outside the app's tree provide."""
    keep = dependency_tree() | {"imagestudio"}
    by_module = metadata.packages_distributions()
    out = []
    for module, dists in sorted(by_module.items()):
        if module in sys.stdlib_module_names or not module.isidentifier():
            continue
        if module.startswith("__editable__") or module.startswith("_distutils_hack"):
            continue
        if not any(_norm(d) in keep for d in dists):
            out.append(module)
    return out


def excluded_modules() -> list[str]:
    return sorted(set(EXCLUDED_MODULES) | set(outside_dependency_tree()))


def is_dropped(dest: str, tree: set[str] | None = None) -> bool:
    """Whether a collected file stays out: a DROPPED_FILES match, or (given the dependency tree)
    the dist-info metadata of a distribution outside it, which the hooks for transformers and
    diffusers copy for every optional dependency that happens to be installed."""
    dest = dest.replace("\\", "/")
    if any(fnmatch.fnmatch(dest, pattern) for pattern in DROPPED_FILES):
        return True
    top = dest.split("/", 1)[0]
    if tree is not None and top.endswith(".dist-info"):
        name = _norm(top[: -len(".dist-info")].rsplit("-", 1)[0])
        return name not in tree and name != "imagestudio"
    return False


def macos_minimum(default: str = "12.0") -> str:
    """The newest macOS any bundled wheel demands (its `macosx_X_Y` tag), at least `default`."""
    best = tuple(int(p) for p in default.split("."))
    for dist in ("torch", "PySide6-Essentials", "onnxruntime", "numpy", "pillow"):
        try:
            wheel = metadata.distribution(dist).read_text("WHEEL") or ""
        except metadata.PackageNotFoundError:
            continue
        for major, minor in re.findall(r"macosx_(\d+)_(\d+)", wheel):
            best = max(best, (int(major), int(minor)))
    return f"{best[0]}.{best[1]}"
