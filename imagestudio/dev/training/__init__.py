"""Training and evaluation of the built-in starter model (not needed to run the app)."""
