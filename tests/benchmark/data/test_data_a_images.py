"""Every way a scraped image can be broken gets a clear reason; odd-but-valid images become RGB."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data.images import image_content_key, index_images, inspect_image, open_image
from benchmark.data.schema import DataError


def _jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize("name, content, expected", [
    ("empty.jpg", b"", "zero-byte"),
    ("page.jpg", b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>", "HTML"),
    ("page2.jpg", b"\n  <html>\n<body>Rate limit exceeded</body></html>", "HTML"),
    ("noise.jpg", b"\x00\x01binary garbage that is no image format" * 3, "not a recognised image format"),
    ("text.png", b"this is just text saved as png", "not a recognised image format"),
])
def test_unusable_bytes_have_a_reason(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    reason = inspect_image(path)
    assert reason is not None and expected in reason
    with pytest.raises(DataError) as caught:
        open_image(path)
    assert name in str(caught.value) and expected in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    assert "missing" in (inspect_image(tmp_path / "gone.jpg") or "")
    with pytest.raises(DataError, match="gone.jpg"):
        open_image(tmp_path / "gone.jpg")


@pytest.mark.parametrize("fmt, keep", [("JPEG", 0.5), ("JPEG", 0.9), ("PNG", 0.6), ("PNG", 0.92), ("GIF", 0.7)])
def test_truncated_image(tmp_path: Path, fmt: str, keep: float) -> None:
    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buffer, fmt)
    data = buffer.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: int(len(data) * keep)])
    reason = inspect_image(path)
    assert reason is not None and ("truncated" in reason or "corrupt" in reason), reason


@pytest.mark.parametrize("pixels_limit", [1000, 1500])  # 4096 pixels: above 2x limit (error), and 1x-2x (warning)
def test_decompression_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pixels_limit: int) -> None:
    path = tmp_path / "bomb.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path)
    assert inspect_image(path) is None
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels_limit)
    reason = inspect_image(path)
    assert reason is not None and "decompression-bomb" in reason


def test_png_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)   # opaque red
    rgba[0, 1] = (255, 0, 0, 0)     # fully transparent -> white
    rgba[0, 2] = (0, 0, 0, 128)     # half-transparent black -> mid grey
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    image = open_image(path)
    assert image.mode == "RGB" and image.size == (4, 4)
    assert image.getpixel((0, 0)) == (255, 0, 0)
    assert image.getpixel((1, 0)) == (255, 255, 255)
    assert all(120 <= v <= 135 for v in image.getpixel((2, 0)))


def test_gif_first_frame_and_palette_transparency(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    image = open_image(path)
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((3, 3))
    assert red > 200 and green < 50 and blue < 50
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    palette.info["transparency"] = 0
    palette.putpixel((0, 0), 0)
    palette_path = tmp_path / "palette.png"
    palette.save(palette_path, transparency=0)
    converted = open_image(palette_path)
    assert converted.getpixel((0, 0)) == (255, 255, 255)
    assert converted.getpixel((1, 1)) == (10, 200, 10)


def test_cmyk_jpeg_greyscale_and_16bit(tmp_path: Path) -> None:
    cmyk_path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(cmyk_path, "JPEG")  # red in CMYK
    with Image.open(cmyk_path) as raw:
        assert raw.mode == "CMYK"
    red, green, blue = open_image(cmyk_path).getpixel((8, 8))
    assert red > 200 and green < 60 and blue < 60
    grey_path = tmp_path / "grey.png"
    Image.new("L", (5, 5), 77).save(grey_path)
    assert open_image(grey_path).getpixel((2, 2)) == (77, 77, 77)
    deep_path = tmp_path / "deep.png"
    Image.fromarray(np.full((5, 5), 65535, dtype=np.uint16)).save(deep_path)
    assert open_image(deep_path).getpixel((0, 0)) == (255, 255, 255)
    bilevel_path = tmp_path / "bw.bmp"
    Image.new("1", (5, 5), 1).save(bilevel_path)
    assert open_image(bilevel_path).getpixel((0, 0)) == (255, 255, 255)


def test_open_image_is_fully_loaded_and_detached(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg_bytes())
    image = open_image(path)
    path.unlink()  # a lazily loaded image would fail now
    assert image.mode == "RGB" and np.asarray(image).shape == (48, 64, 3)


def test_image_content_key(tmp_path: Path) -> None:
    first, copy, other = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    first.write_bytes(_jpeg_bytes())
    copy.write_bytes(first.read_bytes())
    other.write_bytes(_jpeg_bytes((32, 32)))
    assert image_content_key(first) == image_content_key(copy)
    assert image_content_key(first) != image_content_key(other)
    assert len(image_content_key(first)) == 40
    with pytest.raises(DataError, match="missing.jpg"):
        image_content_key(tmp_path / "missing.jpg")


def test_index_images_any_extension(tmp_path: Path) -> None:
    (tmp_path / "boston_fake_01.jpg").write_bytes(b"x")
    (tmp_path / "boston_fake_10.gif").write_bytes(b"x")
    (tmp_path / "dup.png").write_bytes(b"x")
    (tmp_path / "dup.jpg").write_bytes(b"x")
    (tmp_path / ".hidden.jpg").write_bytes(b"x")
    found = index_images(tmp_path)
    assert set(found) == {"boston_fake_01", "boston_fake_10", "dup"}
    assert found["boston_fake_10"].suffix == ".gif" and found["dup"].suffix == ".jpg"
    assert index_images(tmp_path / "absent") == {}
