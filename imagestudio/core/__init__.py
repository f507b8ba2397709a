"""The engine: plain Python and torch. Never imports Qt (tests/test_layers.py checks this)."""
