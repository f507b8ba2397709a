"""Panels of the main window, each a self-contained QWidget."""
