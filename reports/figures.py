"""The report's figures (matplotlib, Agg backend): t-SNE panels, training curves, paper vs reproduced, importances.

Why here and in this form: figures are drawn only from stored data (representations, per-epoch
history, table numbers, a finished Optuna study), so they are rebuilt like the tables. Each function
writes the same figure as PNG (for the Markdown index) and PDF (for LaTeX), and returns both paths.
The t-SNE is seeded, and its perplexity is adapted to the number of points (scikit-learn requires
perplexity < n), so small smoke subsets draw too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["adapted_perplexity", "tsne_embed", "tsne_panels", "training_curves", "paper_vs_reproduced",
           "param_importance", "LABEL_NAMES", "LABEL_COLOURS"]

log = logging.getLogger(__name__)

LABEL_NAMES = {1: "fake", 0: "real"}
LABEL_COLOURS = {1: "#d62728", 0: "#1f77b4"}


def _save(fig, out_path_stem: str | Path) -> list[Path]:
    stem = Path(out_path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def adapted_perplexity(n: int, default: float = 30.0) -> float:
    """The usual 30, lowered for small n to (n - 1) / 3 (at least 1), so perplexity < n always holds."""
    if n < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {n}")
    return float(min(default, max(1.0, (n - 1) / 3.0)))


def tsne_embed(representation: np.ndarray, seed: int = 0, max_iter: int = 1000) -> np.ndarray:
    """2-D seeded t-SNE of (n, D) features (PCA initialisation, automatic learning rate)."""
    from sklearn.manifold import TSNE

    x = np.asarray(representation, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"representation must be (n, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("representation contains NaN or inf")
    tsne = TSNE(n_components=2, perplexity=adapted_perplexity(x.shape[0]), init="pca", learning_rate="auto",
                random_state=seed, max_iter=max_iter)
    return tsne.fit_transform(x)


def tsne_panels(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], out_path_stem: str | Path,
                seed: int = 0, ncols: int = 3, max_iter: int = 1000) -> list[Path]:
    """One t-SNE panel per (title, representation (n, D), labels (n,)), points coloured fake/real.

    For COOLANT Figure 3: COOLANT and its five variants, in the order given.
    """
    if not panels:
        raise ValueError("tsne_panels needs at least one panel")
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 4 * nrows), squeeze=False)
    for ax, (title, rep, labels) in zip(axes.flat, panels):
        labels = np.asarray(labels, dtype=int).ravel()
        if labels.shape[0] != np.asarray(rep).shape[0]:
            raise ValueError(f"panel {title!r}: {np.asarray(rep).shape[0]} representations but "
                             f"{labels.shape[0]} labels")
        emb = tsne_embed(rep, seed, max_iter)
        for lab in (0, 1):
            sel = labels == lab
            if sel.any():
                ax.scatter(emb[sel, 0], emb[sel, 1], s=6, alpha=0.7, c=LABEL_COLOURS[lab],
                           label=LABEL_NAMES[lab], linewidths=0)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(loc="best", markerscale=2, frameon=False)
    fig.tight_layout()
    return _save(fig, out_path_stem)


def training_curves(history: pd.DataFrame, out_path_stem: str | Path, title: str = "") -> list[Path]:
    """Every loss term (left) and every validation metric (right) per epoch.

    ``history`` has an ``epoch`` column; columns starting with ``val_`` are validation metrics
    (``test_*`` columns, present only as-released, are drawn dashed beside them); every other numeric
    column is a loss term.
    """
    if "epoch" not in history.columns:
        raise ValueError(f"history needs an 'epoch' column; has {list(history.columns)}")
    if history.empty:
        raise ValueError("history is empty")
    numeric = [c for c in history.columns if c != "epoch" and pd.api.types.is_numeric_dtype(history[c])]
    val_cols = [c for c in numeric if c.startswith("val_")]
    test_cols = [c for c in numeric if c.startswith("test_")]
    loss_cols = [c for c in numeric if c not in val_cols and c not in test_cols]
    if not loss_cols and not val_cols:
        raise ValueError("history has no loss terms and no val_* columns to draw")
    ep = history["epoch"].to_numpy()
    fig, (ax_l, ax_v) = plt.subplots(1, 2, figsize=(11, 4))
    for c in loss_cols:
        ax_l.plot(ep, history[c].to_numpy(dtype=float), marker=".", label=c)
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("loss")
    ax_l.set_title("loss terms")
    if loss_cols:
        ax_l.legend(fontsize=8, frameon=False)
    for c in val_cols:
        ax_v.plot(ep, history[c].to_numpy(dtype=float), marker=".", label=c)
    for c in test_cols:
        ax_v.plot(ep, history[c].to_numpy(dtype=float), linestyle="--", label=f"{c} (as-released only)")
    ax_v.set_xlabel("epoch")
    ax_v.set_title("validation metrics")
    if val_cols or test_cols:
        ax_v.legend(fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out_path_stem)


def paper_vs_reproduced(rows: Sequence[tuple[str, float | None, float, float, float]], out_path_stem: str | Path,
                        title: str = "", xlabel: str = "value") -> list[Path]:
    """Reproduced mean with its 95% interval (bar) beside the paper's value (cross) for each labelled row.

    ``rows`` are (label, paper or None, mean, ci_low, ci_high).
    """
    if not rows:
        raise ValueError("paper_vs_reproduced needs at least one row")
    labels = [r[0] for r in rows]
    y = np.arange(len(rows))[::-1]
    mean = np.array([r[2] for r in rows], dtype=float)
    low = np.array([r[3] for r in rows], dtype=float)
    high = np.array([r[4] for r in rows], dtype=float)
    if np.any(low > high):
        raise ValueError("each row needs ci_low <= ci_high")
    outside = (low > mean) | (high < mean)
    if outside.any():  # a percentile interval can miss the mean on tiny or degenerate test sets
        log.warning("paper_vs_reproduced: mean outside its interval for %s; drawing the interval as given",
                    [lab for lab, o in zip(labels, outside) if o])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    ax.hlines(y, low, high, color="#1f77b4", linewidth=2, label="reproduced 95% CI")
    ax.plot(mean, y, "o", color="#1f77b4", label="reproduced mean")
    paper = [(yy, r[1]) for yy, r in zip(y, rows) if r[1] is not None]
    if paper:
        ax.scatter([p for _, p in paper], [yy for yy, _ in paper], marker="x", color="#d62728", zorder=3,
                   label="paper")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8, frameon=False)
    fig.tight_layout()
    return _save(fig, out_path_stem)


def param_importance(importances: Mapping[str, float], out_path_stem: str | Path,
                     title: str = "Hyper-parameter importance") -> list[Path]:
    """Horizontal bars, largest on top (e.g. ``optuna.importance.get_param_importances(study)``)."""
    if not importances:
        raise ValueError("param_importance needs at least one parameter")
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [float(v) for _, v in items], color="#1f77b4")
    ax.set_xlabel("importance")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, out_path_stem)
