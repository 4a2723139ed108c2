"""The papers' encoders: BERT-family text models (transformers) and ResNet / VGG image models (torchvision).

Why: reproducing a published number needs the encoder the paper used. A model *name* loads the usual
way (Hugging Face hub / torchvision download, which needs network the first time and is then served
from the local caches); a local *path* (a ``save_pretrained`` folder, a torchvision ``state_dict``
file) works offline. Identities hash the actual weights file, so the feature cache never mixes two
checkpoints published under one name.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Literal

import torch
from PIL import Image

from benchmark.encoders.base import ImageEncoder, ImageFeatures, TextEncoder, TextFeatures
from benchmark.encoders.cache import sha1_file
from benchmark.encoders.minilm import (count_tokens, encode_texts, load_text_model, masked_mean, resolve_device,
                                      weights_file_in)

log = logging.getLogger(__name__)

TextPooling = Literal["cls", "pooler", "mean"]


class HFTextEncoder(TextEncoder):
    """A transformers encoder (BERT, RoBERTa, ...): token states (N, L, D) float16 + mask and pooled (N, D).

    ``pooling``: ``"cls"`` = last-layer [CLS] state (default), ``"pooler"`` = the model's pooler
    output (BERT's tanh dense over [CLS]), ``"mean"`` = mean over real tokens.
    """

    def __init__(self, name_or_path: str | Path, *, name: str | None = None, max_length: int = 64,
                 pooling: TextPooling = "cls", device: str | torch.device | None = None) -> None:
        if pooling not in ("cls", "pooler", "mean"):
            raise ValueError(f"pooling must be 'cls', 'pooler' or 'mean', got {pooling!r}")
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {max_length}")
        self.name_or_path = str(name_or_path)
        self.name = name or Path(self.name_or_path).name or self.name_or_path
        self.max_length = int(max_length)
        self.pooling = pooling
        self._device_arg = device
        self._dir: Path | None = None
        self._dim: int | None = None
        self._tokenizer = None
        self._model = None
        self._identity: str | None = None
        self._lock = threading.Lock()

    def local_dir(self) -> Path:
        """A local folder with config, tokenizer and weights (downloaded into the HF cache for a hub name)."""
        if self._dir is None:
            path = Path(self.name_or_path).expanduser()
            if path.is_dir():
                self._dir = path
            elif path.exists() or self.name_or_path.startswith((".", "/", "~")):
                raise FileNotFoundError(f"{path}: not a model folder; pass a folder written by save_pretrained "
                                        "or a Hugging Face model name")
            else:
                self._dir = self._snapshot(self.name_or_path)
        return self._dir

    @staticmethod
    def _snapshot(repo_id: str) -> Path:
        from huggingface_hub import snapshot_download

        base = ["*.json", "*.txt", "*.model"]
        try:
            folder = Path(snapshot_download(repo_id, allow_patterns=base + ["*.safetensors"]))
            try:
                weights_file_in(folder)
            except FileNotFoundError:
                folder = Path(snapshot_download(repo_id, allow_patterns=base + ["pytorch_model*.bin"]))
        except Exception as exc:
            raise RuntimeError(
                f"cannot fetch text encoder {repo_id!r} ({type(exc).__name__}: {exc}); on a machine without the "
                "model hub pass a local folder (save_pretrained) as the encoder path instead") from exc
        return folder

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(str(self.local_dir()), local_files_only=True)
            self._dim = int(config.hidden_size)
        return self._dim

    @property
    def identity(self) -> str:
        if self._identity is None:
            weights = weights_file_in(self.local_dir())
            self._identity = (f"text:{self.name}|weights-sha1={sha1_file(weights)}|max_length={self.max_length}"
                              f"|pooling={self.pooling}|tokens=last_hidden_state")
        return self._identity

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            directory = self.local_dir()
            log.info("loading text encoder %s from %s", self.name, directory)
            tokenizer, model, device = load_text_model(directory, self._device_arg)
            if self.pooling == "pooler" and getattr(model, "pooler", None) is None:
                raise ValueError(f"{directory}: model has no pooler; use pooling='cls' or 'mean'")
            self._dim = int(model.config.hidden_size)
            self._tokenizer, self._model, self._device = tokenizer, model, device

    def _pool(self, out, states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return states[:, 0]
        if self.pooling == "pooler":
            return out.pooler_output.float()
        return masked_mean(states, weights)

    def token_counts(self, texts: list[str]) -> list[int]:
        if self._model is None:
            self._load()
        return count_tokens(self._tokenizer, texts, self.max_length)

    def encode(self, texts: list[str]) -> TextFeatures:
        if self._model is None:
            self._load()
        return encode_texts(self._tokenizer, self._model, self._device, texts, self.max_length, self.dim,
                            self._pool)


# arch -> channels of its last conv grid (= region and pooled feature dim)
TORCHVISION_ARCHS: dict[str, int] = {"resnet18": 512, "resnet50": 2048, "resnet101": 2048, "vgg19": 512}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TV_PREPROCESSING = "resize256-bilinear-antialias|centercrop224|imagenet-mean-std"


class TorchvisionImageEncoder(ImageEncoder):
    """ResNet-18/50/101 or VGG-19: regions = last conv grid (N, 49, C) float16, pooled = its spatial mean.

    ResNets: the layer4 output (C = 512 / 2048), pooled equals torchvision's avgpool feature.
    VGG-19: the last ``features`` output after max-pool (C = 512). Without ``weights_path`` the
    ImageNet ``IMAGENET1K_V1`` weights are downloaded by torchvision (network needed once).
    """

    regions = 49

    def __init__(self, arch: str, weights_path: Path | str | None = None,
                 device: str | torch.device | None = None) -> None:
        if arch not in TORCHVISION_ARCHS:
            raise ValueError(f"unknown torchvision arch {arch!r}; expected one of {sorted(TORCHVISION_ARCHS)}")
        self.arch = arch
        self.name = arch
        self.dim = TORCHVISION_ARCHS[arch]
        self.weights_path = Path(weights_path).expanduser() if weights_path is not None else None
        self._device_arg = device
        self._file: Path | None = None
        self._model: torch.nn.Module | None = None
        self._transform = None
        self._identity: str | None = None
        self._lock = threading.Lock()

    def weights_file(self) -> Path:
        """The local weights file (downloaded into torch's hub cache when no path was given)."""
        if self._file is None:
            if self.weights_path is not None:
                if not self.weights_path.is_file():
                    raise FileNotFoundError(f"{self.weights_path}: {self.arch} weights file not found; pass a "
                                            "torch.save(model.state_dict()) file")
                self._file = self.weights_path
            else:
                self._file = self._download()
        return self._file

    def _download(self) -> Path:
        import torchvision

        weights = torchvision.models.get_model_weights(self.arch)["IMAGENET1K_V1"]
        target = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not target.is_file():
            try:
                torch.hub.load_state_dict_from_url(weights.url, progress=True, check_hash=True)
            except Exception as exc:
                raise RuntimeError(f"cannot download {self.arch} ImageNet weights from {weights.url} "
                                   f"({type(exc).__name__}: {exc}); offline, pass weights_path= to a saved "
                                   "state_dict") from exc
        return target

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = (f"image:{self.arch}|weights-sha1={sha1_file(self.weights_file())}"
                              f"|pre={TV_PREPROCESSING}|feat=last-conv-7x7|pool=mean")
        return self._identity

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torchvision
            from torchvision import transforms as T

            path = self.weights_file()
            net = torchvision.models.get_model(self.arch, weights=None)
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise ValueError(f"{path}: not a {self.arch} state_dict ({str(exc).splitlines()[0]}); "
                                 f"save one with torch.save(torchvision.models.{self.arch}().state_dict(), path)") from exc
            if self.arch.startswith("resnet"):
                body = torch.nn.Sequential(*(list(net.children())[:-2]))  # up to layer4
            else:
                body = net.features
            body.eval()
            self._device = resolve_device(self._device_arg)
            self._transform = T.Compose([T.Resize(256, antialias=True), T.CenterCrop(224), T.ToTensor(),
                                         T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
            self._model = body.to(self._device)

    @torch.no_grad()
    def encode(self, images: list[Image.Image]) -> ImageFeatures:
        if self._model is None:
            self._load()
        if not images:
            return ImageFeatures(regions=torch.zeros(0, self.regions, self.dim, dtype=torch.float16),
                                 pooled=torch.zeros(0, self.dim))
        x = torch.stack([self._transform(img.convert("RGB") if img.mode != "RGB" else img) for img in images])
        grid = self._model(x.to(self._device)).float()  # (N, C, 7, 7)
        regions = grid.flatten(2).transpose(1, 2)
        return ImageFeatures(regions=regions.to(torch.float16).cpu().contiguous(), pooled=regions.mean(1).cpu())
