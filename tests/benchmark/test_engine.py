"""The training engine: protocols, seeding, early stopping, evaluation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmark.engine import evaluate, train_model
from tests.toy import ToyConfig, ToyModel, toy_splits


def _train(protocol="clean", seed=0, **cfg):
    splits = toy_splits()
    torch.manual_seed(seed)  # as the runner does: initial weights depend on the seed
    model = ToyModel(dataclasses.replace(ToyConfig(), **cfg), splits.dims)
    seen = []
    result = train_model(model, splits, protocol=protocol, seed=seed, on_epoch=lambda e, r: seen.append(r))
    return result, seen, model, splits


def test_clean_protocol_selects_on_validation_and_never_scores_test_per_epoch():
    result, seen, _, _ = _train("clean")
    assert result.selected_on == "validation"
    assert all(not any(k.startswith("test_") for k in record) for record in seen)
    best = max(seen, key=lambda r: r["val_accuracy"])
    assert result.best_epoch == best["epoch"]
    # the loss terms of the model are reported per epoch
    assert {"train_loss_total", "train_loss_cls", "train_loss_aux"} <= set(seen[0])


def test_as_released_protocol_keeps_best_test_epoch():
    result, seen, _, _ = _train("as-released", max_epochs=5, patience=1)
    assert result.selected_on == "test"
    assert len(seen) == 5  # no early stopping: the public code ran all epochs
    best = max(r["test_accuracy"] for r in seen)
    assert result.test.metrics["accuracy"] == pytest.approx(best)


def test_early_stopping_respects_patience():
    result, seen, _, _ = _train("clean", max_epochs=50, patience=1, lr=1e-6)
    assert result.epochs_run < 50 and result.stopped_early


def test_same_seed_same_result_and_other_seed_differs():
    a, _, _, _ = _train(seed=3)
    b, _, _, _ = _train(seed=3)
    c, _, _, _ = _train(seed=4)
    np.testing.assert_array_equal(a.test.probabilities, b.test.probabilities)
    assert not np.array_equal(a.test.probabilities, c.test.probabilities)


def test_selected_weights_are_restored_before_testing():
    result, _, model, splits = _train("clean", max_epochs=6, patience=6)
    again = evaluate(model, splits.validation, torch.device("cpu"))
    assert again.metrics == result.validation.metrics


def test_evaluate_hides_labels_from_the_model():
    splits = toy_splits()

    class Peeking(ToyModel):
        def forward(self, batch):
            if not self.training:
                assert "label" not in batch
            return super().forward(batch)

    model = Peeking(ToyConfig(), splits.dims)
    evaluate(model, splits.test, torch.device("cpu"))


def test_tiny_splits_are_refused_with_a_clear_message():
    splits = toy_splits()
    splits.validation = splits.validation.subset(torch.arange(0))
    with pytest.raises(ValueError, match="bench data check"):
        train_model(ToyModel(ToyConfig(), splits.dims), splits)


def test_unknown_protocol_is_rejected():
    splits = toy_splits()
    with pytest.raises(ValueError, match="protocol"):
        train_model(ToyModel(ToyConfig(), splits.dims), splits, protocol="best-of-test")


def test_validation_is_not_evaluated_again_after_training(monkeypatch):
    import benchmark.engine as engine
    calls = []
    original = engine.evaluate

    def counting(model, table, device, *args, **kwargs):
        calls.append(table)
        return original(model, table, device, *args, **kwargs)

    monkeypatch.setattr(engine, "evaluate", counting)
    result, seen, model, splits = _train("clean", max_epochs=4, patience=4)
    assert sum(t is splits.validation for t in calls) == len(seen)  # once per epoch, never again
    again = original(model, splits.validation, torch.device("cpu"))
    np.testing.assert_array_equal(again.probabilities, result.validation.probabilities)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fused_optimisers_give_the_per_parameter_update(name):
    """make_optimizer's fused Adam/AdamW against torch's reference for-loop implementation."""
    from benchmark.models.base import make_optimizer

    g = torch.Generator().manual_seed(0)
    shapes = [(7, 5), (5,), (3, 4, 2)]
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(4)]
    fused_params = [torch.nn.Parameter(t.clone()) for t in start]
    loop_params = [torch.nn.Parameter(t.clone()) for t in start]
    fused = make_optimizer(name, fused_params, lr=0.05, weight_decay=0.01)
    reference = (torch.optim.Adam if name == "adam" else torch.optim.AdamW)(
        loop_params, lr=0.05, weight_decay=0.01, foreach=False)
    assert fused.defaults["fused"] is True
    for step in grads:
        for params, opt in ((fused_params, fused), (loop_params, reference)):
            for p, grad in zip(params, step):
                p.grad = grad.clone()
            opt.step()
    for a, b, s in zip(fused_params, loop_params, start):
        assert not torch.equal(a.detach(), s)  # it moved
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=1e-7)
