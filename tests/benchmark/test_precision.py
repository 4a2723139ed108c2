"""--precision: bf16 autocast for featurising and training, with its own cache identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.encoders.precision import with_precision
from benchmark.engine import train_model
from tests.toy import ToyConfig, ToyModel, toy_splits


def test_fp32_is_the_encoder_itself_and_bf16_changes_the_identity():
    from benchmark.encoders.minilm import MiniLMTextEncoder
    enc = MiniLMTextEncoder(max_length=16)
    assert with_precision(enc, "fp32") is enc
    bf16 = with_precision(enc, "bf16")
    assert bf16.identity == enc.identity + "|precision=bf16"
    assert bf16.dim == enc.dim and bf16.max_length == 16 and bf16.name == enc.name
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        with_precision(enc, "fp16")


def test_bf16_text_features_stay_close_to_fp32():
    from benchmark.encoders.minilm import MiniLMTextEncoder
    enc = MiniLMTextEncoder(max_length=16)
    texts = ["flood waters reach the city centre", "a shark swims on the highway after the storm"]
    exact, fast = enc.encode(texts), with_precision(enc, "bf16").encode(texts)
    assert fast.tokens.dtype == torch.float16 and fast.pooled.dtype == torch.float32
    assert torch.equal(fast.mask, exact.mask)
    cosine = torch.nn.functional.cosine_similarity(fast.pooled, exact.pooled)
    assert float(cosine.min()) > 0.99
    assert not torch.equal(fast.pooled, exact.pooled)  # it did run in another precision


def test_training_in_bf16_runs_and_differs_from_fp32_only_slightly():
    splits = toy_splits()
    results = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = ToyModel(ToyConfig(max_epochs=3, patience=3), splits.dims)
        results[precision] = train_model(model, splits, seed=0, precision=precision)
    a, b = results["fp32"].test.probabilities, results["bf16"].test.probabilities
    assert np.isfinite(b).all()
    assert np.abs(a - b).max() < 0.1
    with pytest.raises(ValueError, match="unknown precision"):
        train_model(ToyModel(ToyConfig(), splits.dims), splits, precision="half")


def test_numpy_encoders_are_not_wrapped():
    from benchmark.encoders.multilingual import MultilingualUSETextEncoder
    enc = MultilingualUSETextEncoder()
    assert with_precision(enc, "bf16") is enc
