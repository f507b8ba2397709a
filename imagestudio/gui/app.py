"""Start the window: QApplication, theme, exception hooks. The model stack loads later, in the
worker thread, so the window shows before torch is imported."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from imagestudio import __version__
from imagestudio.core.logs import details_hint, setup_logging
from imagestudio.core.paths import resources_dir
from imagestudio.core.settings import load_settings
from imagestudio.gui.theme import apply_theme

log = logging.getLogger("imagestudio")

#: Set to quit right after the first frame is shown and print the time it took (start-up bench).
EXIT_AFTER_SHOW_ENV = "IMAGESTUDIO_EXIT_AFTER_SHOW"


def _install_exception_hooks(show: Callable[[str], None] | None = None) -> None:
    """Unexpected errors go to the log and, in words, to the window, which stays up."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.error("unhandled exception", exc_info=(kind, value, tb))
        if show is not None and threading.current_thread() is threading.main_thread():
            show(f"Something went wrong: {kind.__name__}: {value}; {details_hint()}.")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        log.error(
            "unhandled exception in thread %s",
            args.thread,
            exc_info=args.exc_value if args.exc_value is not None else True,
        )

    sys.excepthook = hook
    threading.excepthook = thread_hook


def configure_application(app: QApplication) -> None:
    """Name, version and icon of the application (the icon is every window's too)."""
    app.setApplicationName("ImageStudio")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("ImageStudio")
    app.setDesktopFileName("imagestudio")  # Wayland matches the window to imagestudio.desktop
    icon = resources_dir() / "icons" / "imagestudio.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))


def run(argv: list[str] | None = None) -> int:
    """Show the main window and run the event loop."""
    started = time.perf_counter()
    setup_logging()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else None
    app = app or QApplication(argv if argv is not None else sys.argv)
    configure_application(app)
    settings = load_settings()
    apply_theme(app, settings)

    from imagestudio.gui.main_window import MainWindow

    window = MainWindow(settings)
    _install_exception_hooks(window.canvas.show_error)
    window.show()
    if os.environ.get(EXIT_AFTER_SHOW_ENV):

        def report() -> None:
            torch_loaded = "yes" if "torch" in sys.modules else "no"
            print(
                f"window shown after {time.perf_counter() - started:.3f} s; "
                f"torch imported: {torch_loaded}",
                flush=True,
            )
            window.close()

        QTimer.singleShot(0, report)
    code = app.exec()
    # A job cancelled by closing gets a moment to end its step and record itself; the process
    # then ends well within 3 s of the close, whatever the job is doing.
    window.finish_closing(CLOSE_GRACE_MS)
    _exit_now(code)
    return code


# How long the app waits, after its window closed, for a cancelled job to stop.
CLOSE_GRACE_MS = 2000


def _exit_now(code: int) -> None:
    """End the process without Python's slow teardown of the model stack (seconds with torch
    loaded), and without waiting for a job that a closed window left finishing its step: state,
    history and files are already on disk, each written atomically."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
