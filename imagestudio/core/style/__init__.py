"""Neural style transfer: repaint a content picture in the style of another, without Qt.

Two modes: `fast` (one pass of Magenta's arbitrary-style network through onnxruntime) and
`quality` (Gatys-style optimisation of the picture against VGG features). Both take PIL images
already read and normalised by `imagestudio.core.images.load_rgb` and return a PIL image.
"""
