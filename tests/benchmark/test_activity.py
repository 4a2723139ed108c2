"""Module activity (benchmark.activity): per-item weight columns, their moments, the engine's logging."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.activity import ActivityAccumulator, collapsed, item_columns
from benchmark.engine import evaluate, train_model
from benchmark.models.base import ModelOutput
from tests.toy import ToyModel, ToyConfig, toy_splits


class GatedToy(ToyModel):
    """The toy model with a per-item sigmoid gate on its representation, reported as activity."""

    activity_channels = {"gate": ("gate",), "pair": ("pair_a", "pair_b")}

    def __init__(self, config, dims) -> None:
        super().__init__(config, dims)
        self.gate = nn.Linear(dims.text_dim, 1)

    def forward(self, batch):
        out = super().forward(batch)
        gate = torch.sigmoid(self.gate(batch["text_pooled"])).squeeze(1)
        out.diagnostics = {"gate": gate.detach(), "pair": torch.stack([gate, 1 - gate], 1).detach(),
                           "ignored": gate.detach()}
        self.track_activity(out.diagnostics)
        return out


def test_item_columns_split_named_entries_and_reject_a_width_mismatch() -> None:
    d = {"a": torch.tensor([[0.1, 0.9], [0.3, 0.7]]), "g": torch.tensor([0.5, 0.6]), "x": torch.zeros(2)}
    cols = item_columns(d, {"a": ("a_v", "a_t"), "g": ("g",), "missing": ("m",)})
    assert set(cols) == {"a_v", "a_t", "g"} and torch.equal(cols["a_t"], torch.tensor([0.9, 0.7]))
    with pytest.raises(ValueError, match="'a' has shape \\(2, 2\\) but activity_channels names 3"):
        item_columns(d, {"a": ("1", "2", "3")})


def test_accumulator_population_moments_over_batches_and_reset() -> None:
    acc = ActivityAccumulator()
    acc.add("g", torch.tensor([1.0, 2.0]))
    acc.add("g", torch.tensor([3.0, 4.0]))
    got = acc.summary()
    assert got["activity_g_mean"] == pytest.approx(2.5)
    assert got["activity_g_std"] == pytest.approx(1.118033988, abs=1e-8)  # sqrt(1.25)
    assert acc.summary() == {}


def test_collapse_rule() -> None:
    assert collapsed(0.33, 0.005) and not collapsed(0.33, 0.05)
    assert collapsed(0.995, 0.2) and collapsed(0.004, 0.2)


def test_engine_logs_activity_per_epoch_and_on_test_items() -> None:
    torch.manual_seed(0)
    splits = toy_splits()
    model = GatedToy(ToyConfig(max_epochs=2, patience=5), splits.dims)
    result = train_model(model, splits, seed=0)
    for column in ("gate_mean", "gate_std", "pair_b_std", "val_activity_gate_std"):
        assert column in result.history.columns, column
    assert "ignored_std" not in result.history.columns
    # the test metrics hold the spread over the test items, equal to a direct computation
    model.eval()
    with torch.no_grad():
        gate = torch.sigmoid(model.gate(splits.test.columns["text_pooled"])).squeeze(1).double()
    assert result.test.metrics["activity_gate_std"] == pytest.approx(gate.std(unbiased=False).item(), abs=1e-6)
    assert result.test.metrics["activity_pair_a_mean"] == pytest.approx(gate.mean().item(), abs=1e-6)
    # a model without per-item weights logs none
    plain = evaluate(ToyModel(ToyConfig(), splits.dims), splits.test, torch.device("cpu"))
    assert not [k for k in plain.metrics if k.startswith("activity_")]
