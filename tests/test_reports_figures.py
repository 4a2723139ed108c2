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
