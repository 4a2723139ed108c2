"""Paper encoders (BERT via transformers, ResNet via torchvision) load offline from local files.

Tiny stand-ins are built and saved to tmp_path (no hub, no download): a 2-layer BERT with a small
vocabulary and an untrained ResNet-18 state_dict.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path

import pytest
import torch
from PIL import Image

from benchmark.encoders.paper import HFTextEncoder, TorchvisionImageEncoder

torch.set_num_threads(2)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "flood", "bridge", "cat", "sleeps", "on", "a",
         "warm", "window", "fake", "news", "."]


def save_tiny_bert(folder: Path, seed: int) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("bert") / "a", seed=0)


def test_hf_text_encoder_offline_shapes_and_pooling(tiny_bert: Path) -> None:
    enc = HFTextEncoder(tiny_bert, name="tiny-bert", max_length=16, device="cpu")
    assert enc._model is None
    assert enc.dim == 32 and enc._model is None  # dim comes from config.json, no weights loaded
    feats = enc.encode(["the flood bridge .", "a cat sleeps on the warm window", "fake"])
    assert feats.tokens.shape == (3, 16, 32) and feats.tokens.dtype == torch.float16
    assert feats.mask.sum(1).tolist() == [6, 9, 3]  # words + [CLS] + [SEP]
    assert not feats.tokens[0, 6:].any()
    torch.testing.assert_close(feats.pooled, feats.tokens[:, 0].float(), atol=1e-2, rtol=1e-2)  # CLS pooling

    mean = HFTextEncoder(tiny_bert, name="tiny-bert", max_length=16, pooling="mean", device="cpu")
    m = mean.encode(["the flood bridge ."])
    expected = m.tokens[0, :6].float().mean(0)
    torch.testing.assert_close(m.pooled[0], expected, atol=1e-2, rtol=1e-2)
    pooler = HFTextEncoder(tiny_bert, name="tiny-bert", pooling="pooler", device="cpu").encode(["fake"]).pooled
    assert pooler.abs().max() <= 1.0  # tanh output of BERT's pooler
    assert len({enc.identity, mean.identity}) == 2


def test_hf_text_identity_changes_with_weights(tiny_bert: Path, tmp_path: Path) -> None:
    other = save_tiny_bert(tmp_path / "b", seed=1)
    a = HFTextEncoder(tiny_bert, name="tiny-bert")
    b = HFTextEncoder(other, name="tiny-bert")
    assert a.identity != b.identity
    assert a.identity == HFTextEncoder(tiny_bert, name="tiny-bert").identity
    assert "weights-sha1=" in a.identity and "max_length=64" in a.identity


def test_hf_text_encoder_bad_path_is_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        HFTextEncoder(tmp_path / "nope").identity
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        HFTextEncoder(tmp_path / "empty").identity


def save_resnet18(path: Path, seed: int) -> Path:
    import torchvision

    torch.manual_seed(seed)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_torchvision_resnet18_from_state_dict(tmp_path: Path) -> None:
    first = save_resnet18(tmp_path / "r18-a.pt", seed=0)
    enc = TorchvisionImageEncoder("resnet18", weights_path=first, device="cpu")
    ident = enc.identity
    assert enc._model is None and "resnet18" in ident and "imagenet-mean-std" in ident
    images = [Image.new("RGB", (320, 240), (200, 30, 30)), Image.new("L", (100, 120), 128)]
    feats = enc.encode(images)
    assert feats.regions.shape == (2, 49, 512) and feats.regions.dtype == torch.float16
    assert feats.pooled.shape == (2, 512)
    torch.testing.assert_close(feats.pooled, feats.regions.float().mean(1), atol=1e-2, rtol=1e-2)

    # pooled must equal torchvision's own avgpool feature (the input of resnet's fc)
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    net.load_state_dict(torch.load(first, weights_only=True))
    net.eval()
    net.fc = torch.nn.Identity()
    x = torch.stack([enc._transform(img.convert("RGB")) for img in images])
    with torch.no_grad():
        torch.testing.assert_close(feats.pooled, net(x), atol=1e-4, rtol=1e-4)

    second = save_resnet18(tmp_path / "r18-b.pt", seed=1)
    assert TorchvisionImageEncoder("resnet18", weights_path=second).identity != ident


def test_torchvision_wrong_weights_and_arch_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown torchvision arch"):
        TorchvisionImageEncoder("resnet7")
    bad = tmp_path / "bad.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    enc = TorchvisionImageEncoder("resnet18", weights_path=bad, device="cpu")
    with pytest.raises(ValueError, match="not a resnet18 state_dict"):
        enc.encode([Image.new("RGB", (32, 32))])
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        TorchvisionImageEncoder("resnet50", weights_path=tmp_path / "missing.pt").identity
