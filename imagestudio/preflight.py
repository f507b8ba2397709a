"""Before the window starts: is there a display, and are the system libraries Qt needs there?

Without them Qt aborts the process (SIGABRT, a core dump) with a message that names one library
of many ("xcb-cursor0 is needed"), or none. Checked first, the user gets one sentence that says
what is missing and the command that installs it. Nothing here imports Qt.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["APT_PACKAGES", "missing_libraries", "window_problem"]

# What Qt's xcb platform plugin and QtGui load beyond the C library (from `ldd` on
# PySide6/Qt/plugins/platforms/libqxcb.so), with the Debian/Ubuntu package of each.
QT_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libfreetype.so.6", "libfreetype6"),
    ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libdbus-1.so.3", "libdbus-1-3"),
    ("libxkbcommon.so.0", "libxkbcommon0"),
    ("libX11.so.6", "libx11-6"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libxcb.so.1", "libxcb1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-render.so.0", "libxcb-render0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-shm.so.0", "libxcb-shm0"),
    ("libxcb-sync.so.1", "libxcb-sync1"),
    ("libxcb-util.so.1", "libxcb-util1"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
)
APT_PACKAGES = " ".join(package for _, package in QT_LIBRARIES)
# Platforms that need no display (tests, screenshots, remote viewers).
_HEADLESS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def missing_libraries(
    libraries: tuple[tuple[str, str], ...] | None = None,
) -> list[tuple[str, str]]:
    """The (library, package) pairs (default: `QT_LIBRARIES`) the dynamic loader cannot find."""
    missing = []
    for soname, package in QT_LIBRARIES if libraries is None else libraries:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append((soname, package))
    return missing


def window_problem(environ: dict[str, str] | None = None) -> str | None:
    """A sentence when the window cannot start on this machine, or None when it can (as far as
    can be known without starting Qt). Only Linux is checked: elsewhere Qt ships what it needs."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if platform in _HEADLESS:
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return (
            "There is no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is "
            "set): start ImageStudio from your desktop session, or use its commands without a "
            "window ('imagestudio --help')."
        )
    if getattr(sys, "frozen", False):
        return None  # the bundle carries its own copies, which the system loader cannot see
    missing = missing_libraries()
    if not missing:
        return None
    names = ", ".join(soname for soname, _ in missing)
    packages = " ".join(package for _, package in missing)
    return (
        f"The window cannot start: the system libraries Qt needs are missing ({names}). On "
        f"Debian or Ubuntu install them with: sudo apt-get install {packages}"
    )
