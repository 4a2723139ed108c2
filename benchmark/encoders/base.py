"""The encoder surface: frozen models turning texts or images into token/regional and pooled features.

``identity`` must change whenever the output could change (model, weights file hash, preprocessing,
max length), because the feature cache is keyed by it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from PIL import Image


@dataclass
class TextFeatures:
    tokens: torch.Tensor  # (N, L, D) float16, zero-padded
    mask: torch.Tensor  # (N, L) bool, True for real tokens
    pooled: torch.Tensor  # (N, D) float32


@dataclass
class ImageFeatures:
    regions: torch.Tensor  # (N, R, D) float16, e.g. a 7x7 grid flattened to R = 49
    pooled: torch.Tensor  # (N, D) float32


class TextEncoder(ABC):
    name: str
    dim: int
    max_length: int

    @property
    @abstractmethod
    def identity(self) -> str:
        """Stable string naming model, weights hash and preprocessing."""

    @abstractmethod
    def encode(self, texts: list[str]) -> TextFeatures:
        """Encode a batch of texts (no gradient)."""

    def token_counts(self, texts: list[str]) -> list[int]:
        """How long each text is for this encoder, to batch similar lengths together (less padding).

        The default counts characters; tokenizing encoders count their real tokens, which is what
        the padding cost depends on.
        """
        return [len(t) for t in texts]


class ImageEncoder(ABC):
    name: str
    dim: int
    regions: int

    @property
    @abstractmethod
    def identity(self) -> str:
        """Stable string naming model, weights hash and preprocessing."""

    @abstractmethod
    def encode(self, images: list[Image.Image]) -> ImageFeatures:
        """Encode a batch of RGB PIL images (no gradient)."""
