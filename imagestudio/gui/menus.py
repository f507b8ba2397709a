"""The main window's menus and shortcuts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from imagestudio.gui.main_window import MainWindow


def build_menus(window: MainWindow) -> None:
    """The menu bar and the window-wide shortcuts (Ctrl+Enter, Esc, Delete in the queue)."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    _action(file_menu, "Load settings from image…", window.open_image_settings, "Ctrl+O")
    _action(file_menu, "Save image as…", lambda: window.canvas.save_as(), "Ctrl+S")
    _action(file_menu, "Open outputs folder", window.open_outputs_folder)
    file_menu.addSeparator()
    _action(file_menu, "Settings…", window.open_settings, "Ctrl+,")
    _action(file_menu, "Backends (ComfyUI servers)…", window.open_backends)
    file_menu.addSeparator()
    _action(file_menu, "Quit", window.close, QKeySequence.StandardKey.Quit)

    edit_menu = bar.addMenu("&Edit")
    _action(edit_menu, "Copy image", window.canvas.copy_image, "Ctrl+Shift+C")
    _action(edit_menu, "Copy prompt", window.copy_prompt)
    edit_menu.addSeparator()
    mask = window.canvas.mask_editor
    for action in (mask.undo_action, mask.redo_action):
        edit_menu.addAction(action)

    view_menu = bar.addMenu("&View")
    view_menu.addAction(window.canvas.fit_action)
    view_menu.addAction(window.canvas.actual_size_action)
    view_menu.addAction(window.canvas.mask_editor.mask_action)
    view_menu.addSeparator()
    for dock in (window.generate_dock, window.history_dock, window.gallery_dock):
        view_menu.addAction(dock.toggleViewAction())

    models_menu = bar.addMenu("&Models")
    _action(models_menu, "Manage models…", window.open_models_dialog, "Ctrl+Shift+M")
    _action(models_menu, "Get a real model…", window.open_recommended)
    _action(models_menu, "Refresh model list", window.refresh_models)
    _action(models_menu, "Open models folder", window.open_models_folder)

    help_menu = bar.addMenu("&Help")
    _action(help_menu, "About ImageStudio", window.show_about)

    generate = QShortcut(QKeySequence("Ctrl+Return"), window)
    generate.activated.connect(window.start_current_tab)
    QShortcut(QKeySequence("Ctrl+Enter"), window).activated.connect(window.start_current_tab)
    QShortcut(QKeySequence(Qt.Key.Key_Escape), window).activated.connect(window.cancel_current)
    remove = QShortcut(QKeySequence.StandardKey.Delete, window.queue_list)
    remove.setContext(Qt.ShortcutContext.WidgetShortcut)
    remove.activated.connect(window.remove_selected_queued)


def _action(menu: QMenu, text: str, slot: Callable[[], object], shortcut: object = None) -> QAction:
    action = menu.addAction(text)
    action.triggered.connect(lambda checked=False: slot())
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))  # type: ignore[call-overload]
    return action
