"""CLIP's two towers from a local folder: FND-CLIP's frozen CLIP features, for a user who has the weights.

Why: FND-CLIP (Zhou et al., ICME 2023) reads frozen CLIP ViT-B/32 text and image embeddings beside its
uni-modal features. No CLIP weights can be installed offline here, so by default the model trains a
stand-in (``baselines.fnd_clip``); ``bench run --clip-path DIR`` (a ``CLIPModel.save_pretrained``
folder, e.g. ``openai/clip-vit-base-patch32`` downloaded elsewhere) switches it to the real thing.

The two towers are extra per-text and per-image features (batch keys ``text_clip`` and ``image_clip``,
see ``benchmark.encoders.featurize``), each the model's projected embedding
(``get_text_features`` / ``get_image_features``, before normalisation: FND-CLIP normalises). They go
through the feature cache like every encoder; the identity hashes the weights file, so two checkpoints
never share cached rows. One ``CLIPModel`` is loaded for both towers.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import torch
from PIL import Image

from benchmark.encoders.base import ImageEncoder, ImageFeatures, TextEncoder, TextFeatures
from benchmark.encoders.cache import sha1_file
from benchmark.encoders.minilm import resolve_device, weights_file_in

log = logging.getLogger(__name__)

CLIP_MAX_LENGTH = 77  # CLIP's context length


class CLIPWeights:
    """A local CLIP folder loaded once (model, tokenizer, image processor) and shared by both towers."""

    def __init__(self, path: Path | str, device: str | torch.device | None = None) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path}: not a CLIP model folder; pass --clip-path a folder written by "
                                    "CLIPModel.save_pretrained (config.json, weights, tokenizer and "
                                    "preprocessor_config.json)")
        self._device_arg = device
        self._lock = threading.Lock()
        self._loaded: tuple | None = None
        self._sha1: str | None = None
        self._dim: int | None = None

    @property
    def weights_sha1(self) -> str:
        if self._sha1 is None:
            self._sha1 = sha1_file(weights_file_in(self.path))
        return self._sha1

    @property
    def dim(self) -> int:
        """The shared embedding width (``projection_dim``), read from the config without loading weights."""
        if self._dim is None:
            from transformers import CLIPConfig
            self._dim = int(CLIPConfig.from_pretrained(str(self.path), local_files_only=True).projection_dim)
        return self._dim

    def loaded(self):
        """(model, tokenizer, image processor, device), loaded on first use, offline."""
        with self._lock:
            if self._loaded is None:
                from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel
                log.info("loading CLIP from %s", self.path)
                model = CLIPModel.from_pretrained(str(self.path), local_files_only=True).eval()
                device = resolve_device(self._device_arg)
                self._loaded = (model.to(device), AutoTokenizer.from_pretrained(str(self.path), local_files_only=True),
                                AutoImageProcessor.from_pretrained(str(self.path), local_files_only=True), device)
            return self._loaded


def _projected(output) -> torch.Tensor:
    """``get_*_features`` returns the tensor (transformers 4) or an output whose pooler is it (5)."""
    return (output if isinstance(output, torch.Tensor) else output.pooler_output).float()


class CLIPTextEncoder(TextEncoder):
    """CLIP's text tower: pooled = the projected text embedding (N, P); one 'token' (the pooled row),
    since FND-CLIP reads only the embedding."""

    max_length = 1

    def __init__(self, weights: CLIPWeights) -> None:
        self.weights = weights
        self.name = "clip-text"

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.weights.dim

    @property
    def identity(self) -> str:
        return f"text:clip|weights-sha1={self.weights.weights_sha1}|max_length={CLIP_MAX_LENGTH}|feat=text_embeds"

    @torch.no_grad()
    def encode(self, texts: list[str]) -> TextFeatures:
        if not texts:
            return TextFeatures(tokens=torch.zeros(0, 1, self.dim, dtype=torch.float16),
                                mask=torch.zeros(0, 1, dtype=torch.bool), pooled=torch.zeros(0, self.dim))
        model, tokenizer, _, device = self.weights.loaded()
        inputs = tokenizer(texts, padding=True, truncation=True, max_length=CLIP_MAX_LENGTH, return_tensors="pt")
        pooled = _projected(model.get_text_features(input_ids=inputs["input_ids"].to(device),
                                                    attention_mask=inputs["attention_mask"].to(device))).cpu()
        return TextFeatures(tokens=pooled.unsqueeze(1).half(), mask=torch.ones(len(texts), 1, dtype=torch.bool),
                            pooled=pooled)


class CLIPImageEncoder(ImageEncoder):
    """CLIP's image tower: pooled = the projected image embedding (N, P), one region (the same row)."""

    regions = 1

    def __init__(self, weights: CLIPWeights) -> None:
        self.weights = weights
        self.name = "clip-image"

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.weights.dim

    @property
    def identity(self) -> str:
        return f"image:clip|weights-sha1={self.weights.weights_sha1}|pre=clip-processor|feat=image_embeds"

    @torch.no_grad()
    def encode(self, images: list[Image.Image]) -> ImageFeatures:
        if not images:
            return ImageFeatures(regions=torch.zeros(0, 1, self.dim, dtype=torch.float16), pooled=torch.zeros(0, self.dim))
        model, _, processor, device = self.weights.loaded()
        pixels = processor(images=[image.convert("RGB") for image in images], return_tensors="pt")["pixel_values"]
        pooled = _projected(model.get_image_features(pixel_values=pixels.to(device))).cpu()
        return ImageFeatures(regions=pooled.unsqueeze(1).half(), pooled=pooled)


def clip_pair(path: Path | str, device: str | torch.device | None = None) -> tuple[CLIPTextEncoder, CLIPImageEncoder]:
    """The two towers of the CLIP folder at ``path``, sharing one loaded model."""
    weights = CLIPWeights(path, device)
    return CLIPTextEncoder(weights), CLIPImageEncoder(weights)
