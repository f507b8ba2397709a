"""Build ImageStudio's self-contained app for the platform this runs on.

    python -m pip install pyinstaller
    python packaging/build.py --torch cpu          # or cuda, or mps (macOS)

Checks that the installed PyTorch is the build asked for (a CPU bundle must not carry 3 GB of
CUDA libraries, a CUDA bundle must actually have them), runs PyInstaller with
packaging/imagestudio.spec, then does the platform's packaging step:

- Linux:   dist/ImageStudio/ (run ./imagestudio) and
           dist/ImageStudio-VERSION-linux-ARCH-TORCH.tar.gz, with a .desktop file, the icon and
           install-desktop-entry.sh inside; `--appimage` also
           runs packaging/linux/make_appimage.sh (needs appimagetool on PATH).
- Windows: dist/ImageStudio/ (ImageStudio.exe, imagestudio-cli.exe), then the Inno Setup
           installer if ISCC.exe is found (else the command to run is printed).
- macOS:   dist/ImageStudio.app, then packaging/macos/make_dmg.sh (signing and notarisation when
           their environment variables are set).

Outputs go to dist/ and build/ at the repository root (both ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bundle_config as cfg  # noqa: E402

TORCH_INDEX = "https://download.pytorch.org/whl"
CUDA_TAG = "cu128"  # a current CUDA build; pick the one your NVIDIA driver supports


def torch_pin() -> str:
    """The torch version development uses (constraints/cpu.txt), else the installed one."""
    constraints = ROOT / "constraints" / "cpu.txt"
    if constraints.is_file():
        found = re.search(r"^torch==(\S+)", constraints.read_text(encoding="utf-8"), re.MULTILINE)
        if found:
            return found.group(1)
    return ""


def installed_torch() -> dict[str, str | bool | None] | None:
    """Ask a fresh interpreter which torch build is installed (None if there is none)."""
    probe = (
        "import json, torch; print(json.dumps({'version': torch.__version__, "
        "'cuda': torch.version.cuda, 'hip': getattr(torch.version, 'hip', None), "
        "'mps': bool(getattr(torch.backends, 'mps', None) and torch.backends.mps.is_built())}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def torch_variant(info: dict[str, str | bool | None]) -> str:
    if info.get("cuda"):
        return "cuda"
    if info.get("hip"):
        return "rocm"
    if sys.platform == "darwin" and info.get("mps"):
        return "mps"
    return "cpu"


def pip_command(variant: str, version: str) -> str:
    pin = f"torch=={version}" if version else "torch"
    if sys.platform == "darwin":
        # PyPI's macOS wheels are the only macOS builds; they run on the CPU and on Apple GPUs.
        return f"python -m pip install {pin}"
    if variant == "cpu":
        return f"python -m pip install {pin} --index-url {TORCH_INDEX}/cpu"
    return (
        f"python -m pip install {pin} --index-url {TORCH_INDEX}/{CUDA_TAG}   "
        f"(or the cuXYZ build your driver supports)"
    )


def check_torch(wanted: str, allow_mismatch: bool) -> dict[str, str | bool | None]:
    """Say which torch is installed; stop (or warn) when it is not the build asked for."""
    version = torch_pin()
    info = installed_torch()
    if info is None:
        raise SystemExit(
            f"build.py: PyTorch is not installed here. Install it with:\n  "
            f"{pip_command(wanted, version)}"
        )
    have = torch_variant(info)
    detail = f"CUDA {info['cuda']}" if info.get("cuda") else f"MPS built: {info['mps']}"
    print(f"build.py: installed torch {info['version']} ({have}; {detail}); asked for {wanted}")

    problem = ""
    if wanted == "mps" and sys.platform != "darwin":
        raise SystemExit("build.py: --torch mps builds only on macOS (Apple silicon).")
    if wanted == "cuda" and sys.platform == "darwin":
        raise SystemExit("build.py: there is no CUDA PyTorch for macOS; use --torch mps.")
    if sys.platform == "darwin":
        if wanted == "cpu":
            print("build.py: note: macOS has one torch build; the bundle uses MPS when available.")
        elif not info.get("mps"):
            problem = "this torch was built without MPS"
    elif wanted != have:
        problem = f"the installed torch is a {have} build, not {wanted}"
        if wanted == "cpu" and have == "cuda":
            problem += " (the bundle would carry several GB of CUDA libraries)"
    if problem:
        message = (
            f"build.py: {problem}. Get the right one with:\n  {pip_command(wanted, version)}\n"
            "(best in a separate virtual environment with `pip install -e .` and pyinstaller)"
        )
        if not allow_mismatch:
            raise SystemExit(message + "\nOr pass --allow-mismatch to build anyway.")
        print("WARNING " + message, file=sys.stderr)
    return info


def check_tools() -> None:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit(
            "build.py: PyInstaller is missing: python -m pip install pyinstaller"
        ) from None
    try:
        import imagestudio  # noqa: F401
    except ImportError:
        raise SystemExit(
            "build.py: ImageStudio is not installed in this Python: python -m pip install -e ."
        ) from None


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def human(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def run_pyinstaller(dist: Path, work: Path, trim: bool, variant: str) -> None:
    env = dict(os.environ, IMAGESTUDIO_BUNDLE_TRIM="1" if trim else "0")
    env["IMAGESTUDIO_TORCH_VARIANT"] = variant
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(HERE / "imagestudio.spec"),
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
    ]
    print("build.py: " + " ".join(command), flush=True)
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    print(f"build.py: PyInstaller took {time.monotonic() - started:.0f} s", flush=True)


def write_build_info(target: Path, info: dict[str, str | bool | None], variant: str) -> None:
    text = (
        f"ImageStudio {cfg.version()}\n"
        f"platform: {sys.platform} {platform.machine()}\n"
        f"torch: {info['version']} ({variant})\n"
        f"python: {platform.python_version()}\n"
        f"built: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n"
    )
    target.write_text(text, encoding="utf-8")


def package_linux(bundle: Path, dist: Path, variant: str, appimage: bool) -> Path:
    shutil.copy2(HERE / "linux" / "imagestudio.desktop", bundle / "imagestudio.desktop")
    shutil.copy2(cfg.ROOT / "resources" / "icons" / "imagestudio.png", bundle / "imagestudio.png")
    installer = bundle / "install-desktop-entry.sh"
    shutil.copy2(HERE / "linux" / "install-desktop-entry.sh", installer)
    installer.chmod(0o755)
    name = f"{cfg.APP_NAME}-{cfg.version()}-linux-{platform.machine()}-{variant}"
    tarball = dist / f"{name}.tar.gz"
    print(f"build.py: writing {tarball}", flush=True)
    started = time.monotonic()
    if shutil.which("tar"):
        # GNU tar with gzip -6: the same archive as tarfile, about twice as fast.
        subprocess.run(
            ["tar", "-C", str(bundle.parent), "-czf", str(tarball), bundle.name], check=True
        )
    else:
        with tarfile.open(tarball, "w:gz", compresslevel=6) as archive:
            archive.add(bundle, arcname=bundle.name)
    print(f"build.py: tarball took {time.monotonic() - started:.0f} s", flush=True)
    if appimage:
        subprocess.run(
            ["bash", str(HERE / "linux" / "make_appimage.sh"), str(bundle), str(dist), variant],
            check=True,
        )
    return tarball


def find_iscc() -> str | None:
    found = shutil.which("iscc") or shutil.which("ISCC")
    if found:
        return found
    for base in (os.environ.get("PROGRAMFILES(X86)"), os.environ.get("PROGRAMFILES")):
        if base:
            candidate = Path(base) / "Inno Setup 6" / "ISCC.exe"
            if candidate.is_file():
                return str(candidate)
    return None


def package_windows(bundle: Path, dist: Path, variant: str) -> Path | None:
    script = HERE / "windows" / "imagestudio.iss"
    defines = [
        f"/DAppVersion={cfg.version()}",
        f"/DVariant={variant}",
        f"/DSourceDir={bundle}",
        f"/DOutputDir={dist}",
    ]
    iscc = find_iscc()
    if iscc is None:
        print(
            "build.py: Inno Setup 6 (ISCC.exe) not found; install it, then run:\n  "
            + " ".join(["iscc", *defines, str(script)])
        )
        return None
    subprocess.run([iscc, *defines, str(script)], check=True)
    return dist / f"{cfg.APP_NAME}-{cfg.version()}-windows-x64-{variant}-setup.exe"


def package_macos(app: Path, dist: Path, variant: str) -> Path:
    script = HERE / "macos" / "make_dmg.sh"
    subprocess.run(["bash", str(script), str(app), str(dist), variant], check=True)
    return dist / f"{cfg.APP_NAME}-{cfg.version()}-macos-{platform.machine()}-{variant}.dmg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--torch",
        required=True,
        choices=["cpu", "cuda", "mps"],
        help="the PyTorch build the bundle carries; must match the installed one",
    )
    parser.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="build even if the installed torch is not the build asked for (with a warning)",
    )
    parser.add_argument(
        "--no-trim",
        action="store_true",
        help="keep everything PyInstaller finds (no exclusions): only to measure what they save",
    )
    parser.add_argument(
        "--skip-package",
        action="store_true",
        help="stop after PyInstaller (no tarball, installer or dmg)",
    )
    parser.add_argument("--appimage", action="store_true", help="Linux: also make an AppImage")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument(
        "--explain", action="store_true", help="print what is excluded and dropped, then stop"
    )
    args = parser.parse_args(argv)

    if args.explain:
        print("excluded modules:\n  " + "\n  ".join(cfg.excluded_modules()))
        print("dropped files (patterns):\n  " + "\n  ".join(cfg.DROPPED_FILES))
        return 0

    check_tools()
    info = check_torch(args.torch, args.allow_mismatch)
    variant = args.torch
    dist, work = args.dist.resolve(), args.work.resolve()
    run_pyinstaller(dist, work, trim=not args.no_trim, variant=variant)

    bundle = dist / (f"{cfg.APP_NAME}.app" if sys.platform == "darwin" else cfg.APP_NAME)
    info_file = (
        bundle / "Contents" / "Resources" / "BUILD-INFO.txt"
        if sys.platform == "darwin"
        else bundle / "BUILD-INFO.txt"
    )
    write_build_info(info_file, info, variant)
    print(f"build.py: bundle {bundle} ({human(tree_size(bundle))})")

    if args.skip_package:
        return 0
    if sys.platform.startswith("linux"):
        artefact: Path | None = package_linux(bundle, dist, variant, args.appimage)
    elif sys.platform == "win32":
        artefact = package_windows(bundle, dist, variant)
    elif sys.platform == "darwin":
        artefact = package_macos(bundle, dist, variant)
    else:
        artefact = None
    if artefact is not None and artefact.exists():
        print(f"build.py: {artefact} ({human(tree_size(artefact))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
