"""Random feature batches that follow the batch-key contract of ``benchmark.features``.

Used by the baseline tests and handy for smoke-checking a model's shapes without a feature cache:
``random_batch(dims, 4)`` returns every key (source side zeros and ``has_source`` False unless
asked for), and ``separable_batch`` shifts features by the label so a model can learn it quickly.
"""

from __future__ import annotations

import torch

from benchmark.encoders.ela import GRID as ELA_GRID
from benchmark.features import FeatureDims


def random_batch(dims: FeatureDims, batch_size: int, *, with_source: bool = False,
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    g = generator
    b, length, regions = batch_size, dims.text_len, dims.image_regions
    lengths = torch.randint(1, length + 1, (b,), generator=g)
    text_mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    text_tokens = torch.randn(b, length, dims.text_dim, generator=g) * text_mask.unsqueeze(-1)
    batch: dict[str, torch.Tensor] = {
        "text_tokens": text_tokens,
        "text_mask": text_mask,
        "text_pooled": torch.randn(b, dims.text_dim, generator=g),
        "image_regions": torch.randn(b, regions, dims.image_dim, generator=g).abs(),
        "image_pooled": torch.randn(b, dims.image_dim, generator=g).abs(),
        "has_image": torch.ones(b, dtype=torch.bool),
        # error-level-analysis cells (benchmark.encoders.ela): small non-negative differences
        "image_ela": torch.rand(b, ELA_GRID * ELA_GRID, 3, generator=g) * 0.05,
        "label": torch.arange(b) % 2,
        "event": (torch.arange(b) % max(dims.num_events, 1)) if dims.num_events else
                 torch.full((b,), -1, dtype=torch.long),
        "emotion": torch.full((b,), -1, dtype=torch.long),
        "index": torch.arange(b),
    }
    for key in ("text_tokens", "text_mask", "text_pooled", "image_regions", "image_pooled"):
        src = batch[key]
        if with_source:
            if key == "text_mask":
                batch["source_" + key] = src.clone()
            else:
                batch["source_" + key] = torch.randn(src.shape, generator=g).abs() \
                    if "image" in key else torch.randn(src.shape, generator=g)
        else:
            batch["source_" + key] = torch.zeros_like(src)
    batch["has_source"] = torch.full((b,), with_source, dtype=torch.bool)
    # as FeatureTable.batch gives a table stored per item: every item is its own distinct image
    batch["image_regions_unique"] = batch["image_regions"]
    batch["image_row_inverse"] = torch.arange(b)
    return batch


def separable_batch(dims: FeatureDims, batch_size: int, *, with_source: bool = False,
                    shift: float = 1.5, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random batch whose every float feature is shifted by ``+shift`` for fake, ``-shift`` for real
    in the first half of its channels, so the label is recoverable from any modality."""
    g = torch.Generator().manual_seed(seed)
    batch = random_batch(dims, batch_size, with_source=with_source, generator=g)
    sign = (batch["label"].float() * 2 - 1)
    for key, value in list(batch.items()):
        if not value.is_floating_point() or (key.startswith("source_") and not with_source):
            continue
        if key == "image_regions_unique":
            continue  # the same tensor as image_regions: set from it after the loop
        half = value.size(-1) // 2
        delta = torch.zeros(value.size(-1))
        delta[:half] = shift
        view = sign.view(-1, *([1] * (value.dim() - 1)))
        shifted = value + view * delta
        if key.endswith("text_tokens"):
            mask_key = key.replace("text_tokens", "text_mask")
            shifted = shifted * batch[mask_key].unsqueeze(-1)
        batch[key] = shifted
    batch["image_regions_unique"] = batch["image_regions"]
    return batch
