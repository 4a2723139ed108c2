"""Encoders are registered by name, resolve lazily (no weights loaded) and typos get a suggestion."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path

import pytest

from benchmark.encoders import catalog
from benchmark.encoders.base import ImageEncoder, TextEncoder
from benchmark.registry import ENCODERS, UnknownNameError


def test_all_names_registered_with_defaults() -> None:
    for name in ("minilm", "efficientnet-lite0", "bert-base-uncased", "bert-base-chinese", "resnet18",
                 "resnet50", "vgg19"):
        assert name in ENCODERS
    assert catalog.DEFAULT_TEXT_ENCODER == "minilm" and catalog.DEFAULT_IMAGE_ENCODER == "efficientnet-lite0"
    assert isinstance(catalog.get_encoder(catalog.DEFAULT_TEXT_ENCODER), TextEncoder)
    assert isinstance(catalog.get_encoder(catalog.DEFAULT_IMAGE_ENCODER), ImageEncoder)


def test_factories_are_lazy(tmp_path: Path) -> None:
    encoders = [catalog.get_encoder(name) for name in ENCODERS.names()]
    assert all(getattr(e, "_model", None) is None for e in encoders)
    # paper encoders given a path do not even touch it until first use
    bert = catalog.get_encoder("bert-base-uncased", path=tmp_path / "not-there-yet")
    assert bert.name == "bert-base-uncased" and bert._model is None
    with pytest.raises(FileNotFoundError, match="not-there-yet"):
        bert.identity
    vgg = catalog.get_encoder("vgg19", path=tmp_path / "vgg.pt")
    assert vgg.dim == 512 and vgg.regions == 49


def test_options_pass_through_and_change_identity() -> None:
    a = catalog.get_text_encoder("minilm", max_length=32)
    b = catalog.get_text_encoder("minilm")
    assert a.max_length == 32 and a.identity != b.identity


def test_unknown_and_wrong_modality_names_are_clear() -> None:
    with pytest.raises(UnknownNameError, match="(?i)did you mean 'minilm'"):
        catalog.get_encoder("minilml")
    with pytest.raises(ValueError, match="encodes images"):
        catalog.get_text_encoder("resnet18")
    with pytest.raises(ValueError, match="encodes text"):
        catalog.get_image_encoder("minilm")
