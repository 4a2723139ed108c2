"""NovEmoFake's emotion model measured on held-out photos: the grouped split, the accuracy by hand,
and the figures logged by prepare (fresh and from the artifact cache)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.models import novemofake_pretrain as pre
from benchmark.models.base import PrepareContext
from tests.benchmark.models.test_novemofake_model import build, make_splits


def test_grouped_split_keeps_copies_together_and_holds_out_a_share_per_class():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(20, 3, generator=g)
    labels = torch.tensor([0] * 12 + [1] * 8)
    features = torch.cat([base, base[:5]])  # rows 20..24 copy rows 0..4
    labels = torch.cat([labels, labels[:5]])
    fit, held = pre.grouped_validation_split(features, labels, 0.25, seed=3)
    assert sorted(torch.cat([fit, held]).tolist()) == list(range(25))
    for k in range(5):
        assert (k in held.tolist()) == (20 + k in held.tolist())  # a photo and its copy on one side
    distinct_held = {tuple(features[i].tolist()) for i in held.tolist()}
    held_labels = [int(labels[i]) for i in held.tolist()]
    assert len(distinct_held) == 3 + 2  # round(0.25 * 12) = 3 of class 0, round(0.25 * 8) = 2 of class 1
    assert held_labels.count(1) >= 2
    fit0, held0 = pre.grouped_validation_split(features, labels, 0.0, seed=3)
    assert held0.numel() == 0 and fit0.numel() == 25
    with pytest.raises(ValueError, match="emotion_validation_fraction"):
        pre.grouped_validation_split(features, labels, 1.0, seed=3)


class _Fixed(nn.Module):
    """Predicts group 1 exactly when the first feature is positive."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = torch.stack([-x[:, 0], x[:, 0]], dim=1)
        return x, logits


def test_emotion_accuracy_by_hand():
    x = torch.tensor([[1.0], [2.0], [-1.0], [-3.0], [0.5]])
    y = torch.tensor([1, 0, 0, 0, 0])  # predictions 1, 1, 0, 0, 1: right on items 0, 2, 3
    m = pre.emotion_accuracy(_Fixed(), x, y)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((2 / 4 + 1 / 1) / 2)
    assert m["majority_share"] == pytest.approx(4 / 5) and m["items"] == 5


def test_prepare_logs_the_emotion_validation_figures_fresh_and_cached(tmp_path):
    g = torch.Generator().manual_seed(5)
    labels = torch.tensor([0, 1] * 20)
    images = torch.randn(40, 5, generator=g) + labels.unsqueeze(1) * 2.0
    for attempt in range(2):  # second time: the pre-trained module comes from the artifact cache
        logged: list[tuple[dict, int]] = []
        ctx = PrepareContext(device=torch.device("cpu"), seed=0, cache_dir=tmp_path,
                             log_metrics=lambda metrics, step=0: logged.append((dict(metrics), step)))
        model = build("pme", emotion_pretrain_epochs=30)
        model.set_emotion_pretraining_data(images, labels)
        model.prepare(make_splits(with_emotion=False), ctx)
        figures = {k: v for metrics, _ in logged for k, v in metrics.items() if k.startswith("emotion_val_")}
        assert figures["emotion_val_items"] == 8  # 20% of each group's 20 distinct photos
        assert 0.5 < figures["emotion_val_accuracy"] <= 1.0  # well separated: clearly better than chance
        assert figures == {f"emotion_val_{k}": v for k, v in model.emotion_validation.items()}
        if attempt == 0:
            first = figures
    assert figures == first
