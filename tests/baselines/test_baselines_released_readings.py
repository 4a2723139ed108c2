"""The baselines' released readings as named variants (issue 25), against the released formulas:
MVAE's loss scales (dhruvkhattar/MVAE mvae.py 75-78, Keras mse = mean over dims, KL mean over latent
dims), EANN's softmax before CrossEntropyLoss and LeakyReLU(True) (EANN-KDD18 EANN.py 125-133, 320-322)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import ablations.baselines  # noqa: F401
import baselines  # noqa: F401
from baselines.mvae import kl_standard_normal, mean_squared_error
from baselines.synthetic import random_batch
from benchmark.features import FeatureDims
from benchmark.variants import build_model, get_variant, resolve_config

SMALL = FeatureDims(text_dim=24, image_dim=20, text_len=6, image_regions=4, has_source=True, num_events=3)


def test_mvae_released_scales_hand_computed() -> None:
    pred = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert mean_squared_error(pred, target).item() == pytest.approx((13 / 3 + 3 / 3) / 2)
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math_log2()]])
    # per dim: -0.5 (1 + lv - mu^2 - e^lv) = [0.5, -0.5 (1 + ln 2 - 2)] ; released: their mean
    per_dim = [0.5, -0.5 * (1 + math_log2() - 2)]
    assert kl_standard_normal(mu, logvar, reduce="mean").item() == pytest.approx(sum(per_dim) / 2)
    assert kl_standard_normal(mu, logvar).item() == pytest.approx(sum(per_dim))


def math_log2() -> float:
    return 0.6931471805599453


def test_mvae_variants_and_their_losses() -> None:
    assert resolve_config("mvae", "released_scales").loss_scale == "mean"
    c = resolve_config("mvae", "as_released")
    assert (c.loss_scale, c.epsilon_std, c.lr, c.batch_size, c.max_epochs) == ("mean", 0.01, 1e-5, 128, 300)
    torch.manual_seed(0)
    model = build_model("mvae", resolve_config("mvae", "released_scales"), SMALL).eval()
    batch = random_batch(SMALL, 4)
    out = model(batch)
    with torch.no_grad():
        joint = torch.cat([model.encode_text(batch["text_tokens"], batch["text_mask"]),
                           model.image_enc(batch["image_pooled"])], dim=1)
        z = model.to_mu(joint)
        expected = (model.image_dec(z) - batch["image_pooled"]).pow(2).mean()
    assert out.losses["image_reconstruction"].item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="loss_scale"):
        build_model("mvae", resolve_config("mvae", overrides={"loss_scale": "median"}), SMALL)


def test_eann_as_released_double_softmax_and_linear_discriminator() -> None:
    assert get_variant("eann", "as_released").label == "EANN (as released)"
    torch.manual_seed(0)
    released = build_model("eann", resolve_config("eann", "as_released"), SMALL).eval()
    assert released.discriminator[1].negative_slope == 1.0  # LeakyReLU(True): slope True == 1
    x = torch.tensor([[-2.0, 3.0]])
    assert torch.equal(released.discriminator[1](x), x)
    batch = random_batch(SMALL, 5)
    out = released(batch)
    with torch.no_grad():
        expected = F.cross_entropy(out.logits.softmax(dim=-1), batch["label"])
    assert out.losses["classification"].item() == pytest.approx(expected.item(), rel=1e-6)
    paper = build_model("eann", resolve_config("eann"), SMALL).eval()
    paper.load_state_dict(released.state_dict())
    assert paper.discriminator[1].negative_slope == pytest.approx(0.01)
    assert paper(batch).losses["classification"].item() == pytest.approx(
        F.cross_entropy(out.logits, batch["label"]).item(), rel=1e-6)
