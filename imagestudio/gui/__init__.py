"""The window: PySide6 only. Talks to `imagestudio.core` through requests, callbacks and results;
never calls torch directly."""
