"""reports.figures: each figure writes a non-empty PNG and PDF; the t-SNE adapts to small n."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.figures import (adapted_perplexity, param_importance, paper_vs_reproduced, training_curves,
                             tsne_embed, tsne_panels)


def _assert_written(paths):
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    png, pdf = (p.read_bytes() for p in paths)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    assert pdf[:5] == b"%PDF-" and len(pdf) > 1000


def test_adapted_perplexity():
    assert adapted_perplexity(1000) == 30.0
    assert adapted_perplexity(10) == 3.0
    assert adapted_perplexity(3) == 1.0
    with pytest.raises(ValueError):
        adapted_perplexity(2)


def test_tsne_panels(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 12)
    panels = [(name, rng.normal(size=(24, 6)) + labels[:, None] * 3.0, labels) for name in ("COOLANT", "w/o ITM")]
    _assert_written(tsne_panels(panels, tmp_path / "figure3" / "tsne", seed=0, max_iter=250))
    small = panels[0][1][:10]
    emb = tsne_embed(small, seed=3, max_iter=250)
    assert emb.shape == (10, 2) and np.array_equal(emb, tsne_embed(small, seed=3, max_iter=250))
    with pytest.raises(ValueError, match="labels"):
        tsne_panels([("bad", rng.normal(size=(10, 3)), labels)], tmp_path / "bad")


def test_training_curves(tmp_path):
    hist = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.7, 0.5], "loss_itc": [0.5, 0.3, 0.2],
                         "val_accuracy": [0.6, 0.7, 0.75], "test_accuracy": [0.62, 0.71, 0.7]})
    _assert_written(training_curves(hist, tmp_path / "curves"))
    with pytest.raises(ValueError, match="epoch"):
        training_curves(hist.drop(columns="epoch"), tmp_path / "x")


def test_paper_vs_reproduced(tmp_path):
    rows = [("COOLANT twitter acc", 0.900, 0.88, 0.86, 0.90), ("EANN twitter acc", None, 0.70, 0.67, 0.73)]
    _assert_written(paper_vs_reproduced(rows, tmp_path / "pvr"))
    with pytest.raises(ValueError, match="ci_low <= ci_high"):
        paper_vs_reproduced([("bad", 0.9, 0.5, 0.7, 0.6)], tmp_path / "bad")


def test_param_importance(tmp_path):
    _assert_written(param_importance({"lr": 0.6, "batch_size": 0.3, "dropout": 0.1}, tmp_path / "imp"))


def test_training_curves_leave_out_disabled_and_duplicate_lines(tmp_path):
    import matplotlib.pyplot as plt

    from reports import figures

    hist = pd.DataFrame({"epoch": [1, 2, 3], "train_loss_total": [6.0, 5.0, 4.5],
                         "train_loss_itm": [0.05, 0.04, 0.03], "train_loss_agu": [0.0, 0.0, 0.0],
                         "val_accuracy": [0.6, 0.7, 0.75], "val_micro_f1": [0.6, 0.7, 0.75],
                         "val_fake_f1": [0.5, 0.6, 0.7]})
    drawn = {}
    original = figures._save

    def capture(fig, stem, formats=("png", "pdf")):
        drawn["axes"] = fig.axes
        drawn["texts"] = [t.get_text() for t in fig.texts]
        drawn["loss_lines"] = [line.get_label() for line in fig.axes[0].get_lines()]
        drawn["val_lines"] = [line.get_label() for line in fig.axes[1].get_lines()]
        drawn["yscale"] = fig.axes[0].get_yscale()
        return original(fig, stem, formats)

    figures._save = capture
    try:
        _assert_written(training_curves(hist, tmp_path / "c", selected_epoch=2, synthetic=True))
    finally:
        figures._save = original
    assert "agu" not in drawn["loss_lines"] and {"total", "itm"} <= set(drawn["loss_lines"])
    assert "micro_f1" not in drawn["val_lines"] and "accuracy" in drawn["val_lines"]
    assert "selected epoch 2" in drawn["val_lines"]
    assert drawn["yscale"] == "log"  # 6 vs 0.05: one linear axis would flatten the small term
    assert any("SYNTHETIC" in t for t in drawn["texts"])
    plt.close("all")


def test_loss_scale_rule():
    from reports.figures import loss_scale
    same = pd.DataFrame({"a": [1.0, 0.9], "b": [0.5, 0.4]})
    far = pd.DataFrame({"a": [6.0, 5.0], "b": [0.05, 0.04]})
    negative = pd.DataFrame({"a": [6.0, 5.0], "b": [-0.05, 0.04]})
    assert loss_scale(same, ["a", "b"]) == "linear"
    assert loss_scale(far, ["a", "b"]) == "log"
    assert loss_scale(negative, ["a", "b"]) == "linear"


def test_paper_vs_reproduced_one_panel_per_metric(tmp_path):
    rows_acc = [("COOLANT", 0.900, 0.88, 0.86, 0.90), ("EANN", None, 0.70, 0.67, 0.73)]
    rows_f1 = [("COOLANT", 0.900, 0.80, 0.76, 0.84), ("EANN", 0.617, 0.70, 0.65, 0.74)]
    paths = paper_vs_reproduced({"accuracy": rows_acc, "F1 (fake)": rows_f1}, tmp_path / "pvr", synthetic=True)
    _assert_written(paths)


def test_model_diagnostics_get_their_own_panel_and_only_headline_metrics_are_drawn(tmp_path):
    from reports import figures
    hist = pd.DataFrame({"epoch": [1, 2], "train_loss_total": [2.0, 1.5], "ambiguity_mean": [0.8, 0.7],
                         "ambiguity_std": [0.1, 0.1], "val_accuracy": [0.6, 0.7], "val_fake_precision": [0.5, 0.6],
                         "val_real_f1": [0.4, 0.5]})
    seen = {}
    original = figures._save

    def capture(fig, stem, formats=("png", "pdf")):
        seen["titles"] = [ax.get_title() for ax in fig.axes]
        seen["loss"] = [line.get_label() for line in fig.axes[0].get_lines()]
        seen["val"] = [line.get_label() for line in fig.axes[1].get_lines()]
        seen["diag"] = [line.get_label() for line in fig.axes[2].get_lines()]
        return original(fig, stem, formats)

    figures._save = capture
    try:
        training_curves(hist, tmp_path / "d")
    finally:
        figures._save = original
    assert seen["titles"] == ["loss terms", "validation metrics", "model diagnostics"]
    assert seen["loss"] == ["total"] and seen["diag"] == ["ambiguity_mean"]
    assert seen["val"] == ["accuracy", "real_f1"]  # fake_precision stays in history.csv
