"""Pieces of the starter training recipe that can be checked in a second."""

from __future__ import annotations

import torch

from imagestudio.dev.training.shapes import single_shape_sample
from imagestudio.dev.training.train_starter import _images_to_tensor, object_weights


def test_object_weights_favour_the_shape_and_keep_the_mean() -> None:
    images = _images_to_tensor(
        [
            single_shape_sample("yellow", "star", "purple").render(),
            single_shape_sample("white", "circle", "black").render(),
        ]
    )
    weights = object_weights(images, 8.0)
    assert weights.shape == (2, 1, 64, 64)
    assert torch.allclose(weights.mean(dim=(2, 3)), torch.ones(2, 1))
    # the centre pixel is the shape's, the corner the background's
    assert (weights[:, 0, 32, 32] > 4 * weights[:, 0, 0, 0]).all()
    plain = _images_to_tensor([single_shape_sample("red", "square", "red").render()])
    assert torch.allclose(object_weights(plain, 8.0), torch.ones(1, 1, 64, 64))
