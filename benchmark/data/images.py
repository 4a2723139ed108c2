"""Opening post images safely: every way a scraped image can be broken gets a clear reason.

Images in fake-news corpora were scraped from social media years ago: some files are missing, some
are empty, some are an HTML error page saved as ``.jpg``, some are truncated, and a few are huge.
Encoders call :func:`open_image` (always an RGB image, fully decoded, or a :class:`DataError` naming
the file and the reason); validation calls :func:`inspect_image` to list the unusable ones up front.
Odd-but-valid images (alpha, palette, greyscale, 16-bit, CMYK, animated GIF) are converted to RGB the
same way everywhere, so an image's features do not depend on which code path opened it.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from benchmark.data.schema import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<!--", b"<script")
_SNIFF_BYTES = 1024


class _ImageUnusable(Exception):
    """Internal: carries the human-readable reason an image cannot be used."""


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(b"<") and any(marker in text for marker in _HTML_MARKERS)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any decoded PIL image to a standalone RGB image (alpha composited on white)."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I") and array.max(initial=0) > 255 else 255.0
        if mode == "F":
            low, high = float(array.min(initial=0)), float(array.max(initial=1))
            array = (array - low) / ((high - low) or 1.0) * 255.0
            top = 255.0
        grey = np.clip(array / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    elif mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return image.copy()
    return image.convert("RGB")


def _decode(path: Path) -> Image.Image:
    """Decode ``path`` to RGB or raise :class:`_ImageUnusable` with the reason."""
    if not path.exists():
        raise _ImageUnusable("file is missing")
    if not path.is_file():
        raise _ImageUnusable("not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise _ImageUnusable("zero-byte file (empty download)")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if _looks_like_html(head):
        raise _ImageUnusable("an HTML/XML page saved with an image name (a failed download), not an image")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set by other code: truncated images "
                    "will not be detected while reading %s", path)
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise _ImageUnusable(f"image has no pixels ({width}x{height})")
                if getattr(image, "n_frames", 1) > 1:
                    image.seek(0)  # animated GIF/WebP: the first frame is the image
                image.load()
                rgb = _to_rgb(image)
                is_png = image.format == "PNG"
            if is_png:  # PNG chunks carry CRCs and an end marker: catch a file cut after the pixels
                with Image.open(path) as checker:
                    checker.verify()
            return rgb
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _ImageUnusable(
            f"decompression-bomb sized image (more than PIL's limit of {limit} pixels: {exc})") from exc
    except UnidentifiedImageError as exc:
        kind = "bytes that are not a recognised image format"
        raise _ImageUnusable(f"{kind} (starts with {head[:12]!r})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        message = str(exc) or type(exc).__name__
        if any(word in message.lower() for word in ("truncated", "incomplete", "broken png")) \
                or isinstance(exc, EOFError):
            raise _ImageUnusable(f"truncated image ({message}); re-download the file") from exc
        raise _ImageUnusable(f"corrupt image ({message})") from exc


def inspect_image(path: Path | str) -> str | None:
    """None when ``path`` decodes to a usable image, else the reason it cannot be used."""
    try:
        _decode(Path(path))
    except _ImageUnusable as exc:
        return str(exc)
    return None


def open_image(path: Path | str) -> Image.Image:
    """Open ``path`` as a fully loaded RGB image; raise :class:`DataError` naming the file and reason.

    PNG/GIF alpha is composited on white, animated images give their first frame, palette, greyscale,
    16-bit and CMYK images are converted to RGB.
    """
    path = Path(path)
    try:
        return _decode(path)
    except _ImageUnusable as exc:
        raise DataError(f"{path}: unusable image: {exc}. Replace or remove the file, or load the "
                        f"dataset with --on-missing-image drop after removing it.") from exc


def image_content_key(path: Path | str) -> str:
    """SHA-1 of the file's bytes: the cache key of an image's features (same bytes, same features)."""
    path = Path(path)
    digest = hashlib.sha1()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: image file is missing; cannot compute its content key") from exc
    return digest.hexdigest()


def index_images(directory: Path | str) -> dict[str, Path]:
    """Map each image file's stem to its path (any image extension), for ``<image_id>.<ext>`` layouts.

    When two files share a stem (``x.jpg`` and ``x.png``) the one whose extension comes first in
    :data:`IMAGE_SUFFIXES` wins, and the choice is logged. A missing directory gives an empty map.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    rank = {suffix: i for i, suffix in enumerate(IMAGE_SUFFIXES)}
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        stem = path.stem
        if stem in found:
            other = found[stem]
            keep = min((other, path), key=lambda p: (rank.get(p.suffix.lower(), len(rank)), p.name))
            log.warning("%s: two files for image id %r (%s, %s); using %s",
                        directory, stem, other.name, path.name, keep.name)
            found[stem] = keep
        else:
            found[stem] = path
    return found
