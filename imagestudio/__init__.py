"""ImageStudio: offline text-to-image for artists."""

__version__ = "0.1.0"
