"""Error-level analysis (ELA) maps: MCNN's visual tampering input, computed from the image file.

ELA re-saves the decoded image as JPEG at a fixed quality and takes the absolute difference with the
decoded image: regions pasted or edited after the last save recompress differently from the rest and
stand out. It needs no weights, so it runs offline; it is an "image encoder" only so that it goes
through the feature cache like the others (one map per distinct image file, keyed by its content).

Output: the per-channel difference (0..1) averaged over a ``GRID`` x ``GRID`` grid of cells, stored as
``regions`` (GRID * GRID cells, 3 channels; row-major, so ``reshape(GRID, GRID, 3)`` is the map) and
its mean per channel as ``pooled``. Models read it as the batch key ``image_ela`` (see
``benchmark.encoders.featurize``) when they declare ``extra_image_features = ("ela",)``.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from benchmark.encoders.base import ImageEncoder, ImageFeatures

QUALITY = 90  # the usual ELA re-save quality
GRID = 32  # the map's resolution (cells per side)


def ela_map(image: Image.Image, quality: int = QUALITY) -> torch.Tensor:
    """(3, H, W) float tensor in [0, 1]: |image - JPEG(image, quality)| per channel, full resolution."""
    rgb = image.convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as resaved:
        again = np.asarray(resaved.convert("RGB"), dtype=np.int16)
    original = np.asarray(rgb, dtype=np.int16)
    return torch.from_numpy(np.abs(original - again).astype(np.float32) / 255.0).permute(2, 0, 1)


class ELAImageEncoder(ImageEncoder):
    """ELA map pooled to a GRID x GRID grid: regions (GRID*GRID, 3), pooled (3,)."""

    name = "ela"
    dim = 3
    regions = GRID * GRID

    def __init__(self, quality: int = QUALITY, grid: int = GRID) -> None:
        self.quality, self.grid = int(quality), int(grid)
        self.regions = self.grid * self.grid

    @property
    def identity(self) -> str:
        return f"image:ela|jpeg-quality={self.quality}|grid={self.grid}|v1"

    def encode(self, images: list[Image.Image]) -> ImageFeatures:
        maps = [F.adaptive_avg_pool2d(ela_map(image, self.quality).unsqueeze(0), self.grid)[0] for image in images]
        stacked = torch.stack(maps) if maps else torch.zeros(0, 3, self.grid, self.grid)
        regions = stacked.flatten(2).transpose(1, 2)  # (N, grid*grid, 3), row-major cells
        return ImageFeatures(regions=regions.half(), pooled=regions.mean(1))


# extra per-image feature name -> encoder factory (models ask by name: ``extra_image_features``)
EXTRA_IMAGE_ENCODERS = {"ela": ELAImageEncoder}
