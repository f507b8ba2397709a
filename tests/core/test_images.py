"""Input pictures in the forms artists' files come in all become upright 8-bit RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagestudio.core.errors import ImageError
from imagestudio.core.images import load_rgb


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    # 40 wide, 20 tall on disk, left half red; orientation 6 means "rotate 90 degrees clockwise
    # to view", so the viewer shows it 20 wide and 40 tall with red on top
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif, quality=95)

    loaded = load_rgb(path)
    assert loaded.image.size == (20, 40)
    assert loaded.source_size == (40, 20)
    top, bottom = loaded.image.getpixel((10, 5)), loaded.image.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60
    assert loaded.notices == []  # turning a picture upright is not worth a notice


def test_alpha_is_laid_over_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 4, 8))
    path = tmp_path / "cutout.png"
    image.save(path)
    loaded = load_rgb(path).image
    assert loaded.mode == "RGB"
    assert loaded.getpixel((1, 1)) == (0, 0, 255)
    assert loaded.getpixel((6, 1)) == (255, 255, 255)


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 255, 0, 0, 0, 0] + [0] * 762)
    image.paste(1, (2, 0, 4, 4))
    path = tmp_path / "indexed.png"
    image.save(path, transparency=1)
    loaded = load_rgb(path).image
    assert loaded.getpixel((0, 0)) == (0, 255, 0)
    assert loaded.getpixel((3, 0)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    path = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_rgb(path).image)
    assert pixels.shape == (8, 8, 3)
    # a mid-grey 16-bit value stays mid-grey (clipping would make it 255)
    assert 100 < pixels[4, 0, 0] < 160
    assert pixels[0, 0, 0] == 0 and pixels[7, 7, 0] == 255


def test_greyscale_and_cmyk(tmp_path: Path) -> None:
    Image.new("L", (6, 6), 128).save(tmp_path / "grey.png")
    assert load_rgb(tmp_path / "grey.png").image.getpixel((0, 0)) == (128, 128, 128)
    Image.new("CMYK", (6, 6), (0, 255, 255, 0)).save(tmp_path / "print.jpg", quality=95)
    red = load_rgb(tmp_path / "print.jpg").image.getpixel((3, 3))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


@pytest.mark.parametrize("suffix", [".webp", ".bmp", ".tiff"])
def test_other_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"picture{suffix}"
    Image.new("RGB", (10, 6), (10, 200, 30)).save(path)
    loaded = load_rgb(path).image
    assert loaded.size == (10, 6)
    assert np.abs(np.asarray(loaded, dtype=int) - (10, 200, 30)).max() < 12


def test_a_big_picture_is_scaled_down_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "poster.jpg"
    Image.new("RGB", (3000, 1500), (200, 100, 50)).save(path)
    loaded = load_rgb(path, max_side=1024)
    assert loaded.image.size == (1024, 512)
    assert loaded.notices == ["poster.jpg is 3000x1500; it was scaled to 1024x512."]
    # a small picture is never scaled up
    small = load_rgb(path, max_side=4096)
    assert small.image.size == (3000, 1500) and small.notices == []


def test_unreadable_files_give_sentences(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes.png is not an image ImageStudio can read"):
        load_rgb(text)
    with pytest.raises(ImageError, match="does not exist"):
        load_rgb(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="is a folder"):
        load_rgb(tmp_path)
    truncated = tmp_path / "cut.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(ImageError, match=r"cut.png"):
        load_rgb(truncated)


def test_transparency_is_read_apart_and_follows_a_scale_down(tmp_path) -> None:
    from PIL import Image

    from imagestudio.core.images import load_rgb

    half = Image.new("RGBA", (40, 20), (200, 10, 10, 255))
    half.paste((200, 10, 10, 0), (0, 0, 20, 20))
    half.save(tmp_path / "half.png")
    loaded = load_rgb(tmp_path / "half.png")
    assert loaded.image.mode == "RGB" and loaded.image.getpixel((5, 5)) == (255, 255, 255)
    assert loaded.alpha is not None and loaded.alpha.getpixel((5, 5)) == 0
    assert loaded.alpha.getpixel((30, 5)) == 255
    scaled = load_rgb(tmp_path / "half.png", max_side=20)
    assert scaled.alpha is not None and scaled.alpha.size == scaled.image.size == (20, 10)
    Image.new("RGBA", (8, 8), (1, 2, 3, 255)).save(tmp_path / "opaque.png")
    assert load_rgb(tmp_path / "opaque.png").alpha is None
