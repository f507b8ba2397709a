"""Start the window: QApplication, theme, exception hooks. The model stack loads later, in the
worker thread, so the window shows before torch is imported."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from types import TracebackType

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from imagestudio import __version__
from imagestudio.core.logs import setup_logging
from imagestudio.core.settings import Settings, load_settings

log = logging.getLogger("imagestudio")

#: Set to quit right after the first frame is shown and print the time it took (start-up bench).
EXIT_AFTER_SHOW_ENV = "IMAGESTUDIO_EXIT_AFTER_SHOW"


def _dark_palette() -> QPalette:
    palette = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(230, 230, 230)
    palette.setColor(QPalette.ColorRole.Window, window)
    palette.setColor(QPalette.ColorRole.WindowText, text)
    palette.setColor(QPalette.ColorRole.Base, base)
    palette.setColor(QPalette.ColorRole.AlternateBase, window)
    palette.setColor(QPalette.ColorRole.ToolTipBase, window)
    palette.setColor(QPalette.ColorRole.ToolTipText, text)
    palette.setColor(QPalette.ColorRole.Text, text)
    palette.setColor(QPalette.ColorRole.Button, window)
    palette.setColor(QPalette.ColorRole.ButtonText, text)
    palette.setColor(QPalette.ColorRole.BrightText, QColor(255, 90, 90))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(64, 128, 214))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    palette.setColor(QPalette.ColorRole.PlaceholderText, QColor(150, 150, 150))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return palette


def apply_theme(app: QApplication, settings: Settings) -> None:
    """Fusion everywhere; a dark palette when the system (or the setting) is dark."""
    app.setStyle("Fusion")
    theme = settings.theme
    if theme == "system":
        scheme = QGuiApplication.styleHints().colorScheme()
        theme = "dark" if scheme == Qt.ColorScheme.Dark else "light"
    app.setPalette(_dark_palette() if theme == "dark" else app.style().standardPalette())


def _install_exception_hooks() -> None:
    """Unexpected errors go to the log; the window stays up (Qt would abort on some)."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        log.error("unhandled exception", exc_info=(kind, value, tb))
        sys.__excepthook__(kind, value, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        log.error(
            "unhandled exception in thread %s",
            args.thread,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = hook
    threading.excepthook = thread_hook


def run(argv: list[str] | None = None) -> int:
    """Show the main window and run the event loop."""
    started = time.perf_counter()
    setup_logging()
    _install_exception_hooks()
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("ImageStudio")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("ImageStudio")
    settings = load_settings()
    apply_theme(app, settings)

    from imagestudio.gui.main_window import MainWindow

    window = MainWindow(settings)
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
    return app.exec()
