"""Upscaling: super-resolution networks (spandrel) run in tiles, and the upscale job kind."""
