"""Size presets around a model's native size, and the sentence when a size is far from it."""

from __future__ import annotations

import pytest

from imagestudio.core.generation.sizes import size_presets, size_warning


@pytest.mark.parametrize("native", [64, 96, 512, 768, 1024])
def test_presets_are_near_the_native_size_in_multiples_of_8(native: int) -> None:
    presets = size_presets(native)
    assert presets[0][:2] == (native, native)
    for width, height, label in presets:
        assert width % 8 == 0 and height % 8 == 0 and label
        assert size_warning(width, height, native) is None, (width, height)
        assert (height, width) in [(w, h) for w, h, _ in presets]  # both orientations


def test_the_common_families_get_the_sizes_artists_use() -> None:
    assert (512, 768) in [p[:2] for p in size_presets(512)]
    sdxl = [p[:2] for p in size_presets(1024)]
    assert {(832, 1216), (1216, 832), (896, 1152), (768, 1344)} <= set(sdxl)


def test_far_sizes_are_said_in_words() -> None:
    large = size_warning(512, 512, 64)
    assert large is not None and "tiled" in large and "64×64" in large
    small = size_warning(512, 512, 1024)
    assert small is not None and "smaller" in small
    assert size_warning(512, 512, None) is None
    assert size_warning(576, 576, 512) is None
