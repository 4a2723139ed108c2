"""Numeric precision of featurising: fp32 (CPU default) or bf16 autocast.

Why a wrapper: precision is a property of a run, not of an encoder, and it changes the features, so
it must change the cache key. ``with_precision(encoder, "bf16")`` runs any torch encoder under
``torch.autocast(..., dtype=torch.bfloat16)`` and appends ``|precision=bf16`` to its identity; fp32
returns the encoder itself, so fp32 identities (and caches) stay what they were.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

from benchmark.encoders.base import ImageEncoder, ImageFeatures, TextEncoder, TextFeatures

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return precision


def autocast(device: torch.device | str, precision: str):
    """bf16 autocast on ``device`` (CPU or CUDA), or no context for fp32."""
    check_precision(precision)
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def _device_of(encoder: Any) -> torch.device:
    device = getattr(encoder, "_device", None)
    return torch.device(device) if device is not None else torch.device("cpu")


class _Precision:
    """Delegates everything to the wrapped encoder except ``identity`` and ``encode``."""

    def __init__(self, inner: Any, precision: str) -> None:
        self._inner = inner
        self.precision = check_precision(precision)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def identity(self) -> str:
        return f"{self._inner.identity}|precision={self.precision}"


class BF16TextEncoder(_Precision, TextEncoder):
    def encode(self, texts: list[str]) -> TextFeatures:
        with autocast(_device_of(self._inner), self.precision):
            out = self._inner.encode(texts)
        return TextFeatures(tokens=out.tokens.to(torch.float16), mask=out.mask, pooled=out.pooled.float())

    def token_counts(self, texts: list[str]) -> list[int]:
        return self._inner.token_counts(texts)


class BF16ImageEncoder(_Precision, ImageEncoder):
    def encode(self, images) -> ImageFeatures:
        with autocast(_device_of(self._inner), self.precision):
            out = self._inner.encode(images)
        return ImageFeatures(regions=out.regions.to(torch.float16), pooled=out.pooled.float())


def with_precision(encoder: TextEncoder | ImageEncoder, precision: str) -> TextEncoder | ImageEncoder:
    """``encoder`` itself for fp32; a bf16-autocast wrapper with its own cache identity otherwise.

    Encoders that do not run on torch (``autocast_capable = False``) are returned unchanged: autocast
    would not touch them, so their features and identity do not change.
    """
    check_precision(precision)
    if precision == "fp32" or not getattr(encoder, "autocast_capable", True):
        return encoder
    if isinstance(encoder, TextEncoder):
        return BF16TextEncoder(encoder, precision)
    return BF16ImageEncoder(encoder, precision)
