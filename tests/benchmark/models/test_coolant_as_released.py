"""COOLANT as released (issue 25), item by item against the released formulas (wishever/COOLANT twitter/)."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ablations.coolant  # noqa: F401  (registers the variants)
from benchmark.engine import train_model
from benchmark.features import FeatureTable
from benchmark.models.coolant import GaussianEncoder, ReleasedConsistency
from benchmark.models.layers import TextCNN
from tests.benchmark.models.test_coolant_model import SMALL, grads, has_grad, make_batch, model_for
from tests.toy import ToyConfig, ToyModel, toy_splits


def test_softplus_std_is_the_released_scale() -> None:
    """mymodel.py 125-128: sigma = softplus(raw) + 1e-7; we return log var = 2 log sigma."""
    enc = GaussianEncoder(4, 2, softplus_std=True)
    m = torch.randn(3, 4)
    with torch.no_grad():
        raw = enc.net(m)
        mu, logvar = enc(m)
    sigma = torch.log1p(torch.exp(raw[:, 2:])) + 1e-7
    torch.testing.assert_close(mu, raw[:, :2])
    torch.testing.assert_close(logvar.mul(0.5).exp(), sigma)
    _, clamped = GaussianEncoder(4, 2)(m)  # ours: a clamped log variance
    assert not torch.allclose(clamped, logvar)


def test_released_fastcnn_batch_norm_and_max_over_padding() -> None:
    """mymodel.py 13-33: Conv1d -> BatchNorm1d -> ReLU -> AdaptiveMaxPool1d per kernel, over the whole padded text."""
    torch.manual_seed(0)
    cnn = TextCNN(5, (1, 2, 4), 3, batch_norm=True, masked_pool=False)
    tokens, mask = torch.randn(4, 7, 5), torch.ones(4, 7, dtype=torch.bool)
    mask[0, 2:] = False
    mask[1, 5:] = False
    padded = tokens * mask.unsqueeze(-1)
    released = []
    for conv, norm in zip(cnn.convs, cnn.norms):
        branch = nn.Sequential(conv, norm, nn.ReLU(), nn.AdaptiveMaxPool1d(1))
        released.append(branch(padded.permute(0, 2, 1)).squeeze(-1))
    torch.testing.assert_close(cnn(tokens, mask), torch.cat(released, 1))
    # ours (masked max, no batch norm) reads only the real windows: item 0 differs
    ours = TextCNN(5, (1, 2, 4), 3)
    ours.load_state_dict({k: v for k, v in cnn.state_dict().items() if k.startswith("convs")})
    assert not torch.allclose(ours(tokens, mask), cnn(tokens, mask))


def test_released_consistency_module_has_its_own_encoders_trained_by_itm() -> None:
    """mymodel.py 75-110: SimilarityModule = its own EncodingPart + BN/ReLU aligners; ITM trains only it."""
    torch.manual_seed(0)
    model = model_for("as_released")
    assert isinstance(model.consistency, ReleasedConsistency)
    norms = [m for m in model.consistency.text_aligner if isinstance(m, nn.BatchNorm1d)]
    assert len(norms) == 2 and isinstance(model.consistency.text_aligner[-1], nn.ReLU)
    model(make_batch(SMALL, b=8)).losses["itm"].backward()
    assert has_grad(model.consistency.encoding) and has_grad(model.consistency.image_aligner)
    for module in (model.image_encoder, model.text_encoder, model.contrastive, model.released):
        assert all(g is None for g in grads(module))


def _stage_losses(model, batch, stage):
    c = model.config
    losses = model(batch).losses
    return {"consistency": losses["itm"], "contrastive": losses["itc"] + c.lambda_sem * losses["sem"],
            "detection": losses["cls"] + c.gamma * losses["ag"]}[stage]


def test_sequential_steps_recompute_between_the_optimisers() -> None:
    """twitter.py 131-178: step consistency on L_ITM; recompute, step contrastive on L_ITC + 0.2 L_SEM;
    recompute, step detection on L_CLS + 0.5 L_KL. Checked against that loop written out by hand."""
    torch.manual_seed(0)
    model = model_for("as_released", dropout=0.0)
    batch = make_batch(SMALL, b=8)
    by_hand = copy.deepcopy(model)
    joint = copy.deepcopy(model)
    assert model.steps_itself
    opts = model.configure_optimizers()
    torch.manual_seed(1)  # the same dropout draws (the released encoders keep dropout 0.5) in both runs
    out = model.training_step(batch, opts, contextlib.nullcontext)
    hand_opts = by_hand.configure_optimizers()
    torch.manual_seed(1)
    for stage, opt in zip(by_hand._optimizer_groups, hand_opts):
        opt.zero_grad()
        _stage_losses(by_hand, batch, stage).backward()
        opt.step()
    for (name, p), q in zip(model.named_parameters(), by_hand.parameters()):
        torch.testing.assert_close(p, q, msg=name)
    assert set(out.losses) >= {"total", "itm", "itc", "sem", "cls", "ag"} and torch.isfinite(out.losses["total"])
    # one forward and every optimiser stepped together (the engine's default) is a different update
    joint_opts = joint.configure_optimizers()
    torch.manual_seed(1)
    joint(batch).losses["total"].backward()
    for opt in joint_opts:
        opt.step()
    detection = [n for n, _ in model.named_parameters() if n.startswith("released.")]
    params = dict(joint.named_parameters())
    assert any(not torch.allclose(dict(model.named_parameters())[n], params[n]) for n in detection)


def test_as_released_protocol_trains_on_the_whole_training_file() -> None:
    """twitter.py 67-77: the released script trains on the whole training file (no validation carve)."""
    seen: list[int] = []

    class Counting(ToyModel):
        def forward(self, batch):
            if self.training:
                seen.append(len(batch["label"]))
            return super().forward(batch)

    splits = toy_splits()
    for protocol, expected in (("clean", len(splits.train)), ("as-released", len(splits.train) + len(splits.validation))):
        seen.clear()
        train_model(Counting(ToyConfig(max_epochs=1), splits.dims), splits, protocol=protocol, seed=0)
        assert sum(seen) == expected, protocol


def test_feature_table_concat_reindexes_shared_rows() -> None:
    a = FeatureTable(["a0", "a1"], torch.tensor([0, 1]), torch.tensor([0, 0]), {"x": torch.tensor([[1.0], [2.0]])},
                     {"img": (torch.tensor([[10.0], [20.0]]), torch.tensor([1, 0]))})
    b = FeatureTable(["b0"], torch.tensor([1]), torch.tensor([2]), {"x": torch.tensor([[3.0]])},
                     {"img": (torch.tensor([[30.0]]), torch.tensor([0]))})
    both = a.concat(b)
    assert both.item_ids == ["a0", "a1", "b0"] and both.labels.tolist() == [0, 1, 1]
    assert both.get("img").flatten().tolist() == [20.0, 10.0, 30.0]
    assert both.get("x").flatten().tolist() == [1.0, 2.0, 3.0]
    rows = a.shared["img"][0]
    same = FeatureTable(["c"], torch.tensor([0]), torch.tensor([0]), {"x": torch.tensor([[4.0]])},
                        {"img": (rows, torch.tensor([0]))})
    assert a.concat(same).shared["img"][0] is rows  # one shared store stays one
    with pytest.raises(ValueError, match="cannot concatenate"):
        a.concat(FeatureTable(["d"], torch.tensor([0]), torch.tensor([0]), {}, {}))
