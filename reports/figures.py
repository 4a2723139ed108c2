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
           "param_importance", "loss_scale", "LABEL_NAMES", "LABEL_COLOURS", "SYNTHETIC_MARK"]

log = logging.getLogger(__name__)

LABEL_NAMES = {1: "fake", 0: "real"}
LABEL_COLOURS = {1: "#d62728", 0: "#1f77b4"}


def _save(fig, out_path_stem: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    stem = Path(out_path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in formats]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
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
                seed: int = 0, ncols: int = 3, max_iter: int = 1000, synthetic: bool = False) -> list[Path]:
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
    if synthetic:
        _mark_synthetic(fig)
    return _save(fig, out_path_stem)


SYNTHETIC_MARK = "SYNTHETIC DATA: not a measurement of any published dataset"
# Validation metrics drawn per epoch (the others stay in history.csv): the headline ones of the tables.
HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "fake_f1", "real_f1")


def _headline(columns: list[str]) -> list[str]:
    """The headline metrics among ``val_*``/``test_*`` columns (all of them when none is headline)."""
    keep = [c for c in columns if c.split("_", 1)[1] in HEADLINE_METRICS]
    return keep or columns
# Validation columns that are always equal to another for binary labels (micro-F1 = accuracy).
_REDUNDANT_VAL = {"val_micro_f1": "val_accuracy", "test_micro_f1": "test_accuracy"}


def _mark_synthetic(fig) -> None:
    """A red banner across the top, so a synthetic figure pasted anywhere still says what it is."""
    fig.text(0.5, 1.0, SYNTHETIC_MARK, ha="center", va="bottom", color="#d62728", fontsize=10,
             fontweight="bold")


def _legend_outside(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, borderaxespad=0)


def _integer_epochs(ax) -> None:
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def _drawn_losses(history: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Loss terms worth a line: not all-NaN and not identically zero (a disabled term is left out)."""
    keep = []
    for c in columns:
        values = history[c].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size and np.any(finite != 0):
            keep.append(c)
    return keep


def _drawn_metrics(history: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Metric columns minus exact duplicates of one already drawn (e.g. micro-F1 = accuracy)."""
    keep: list[str] = []
    for c in columns:
        twin = _REDUNDANT_VAL.get(c)
        if twin in columns:
            continue
        values = history[c].to_numpy(dtype=float)
        if any(np.array_equal(values, history[k].to_numpy(dtype=float), equal_nan=True) for k in keep):
            continue
        keep.append(c)
    return keep


def loss_scale(history: pd.DataFrame, columns: Sequence[str]) -> str:
    """'log' when the loss terms differ in size by more than 10x and are all positive, else 'linear'."""
    sizes = []
    for c in columns:
        values = history[c].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        if np.any(values <= 0):
            return "linear"
        sizes.append(float(np.median(values)))
    if len(sizes) >= 2 and max(sizes) / min(sizes) > 10:
        return "log"
    return "linear"


def training_curves(history: pd.DataFrame, out_path_stem: str | Path, title: str = "",
                    selected_epoch: int | None = None, synthetic: bool = False,
                    formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Every active loss term (left) and every distinct validation metric (right) per epoch.

    ``history`` has an ``epoch`` column; columns starting with ``val_`` are validation metrics
    (``test_*`` columns, present only as-released, are drawn dashed beside them); every other numeric
    column is a loss term. Terms that are zero throughout (switched off by a variant) are left out,
    losses of very different sizes share a log axis, micro-F1 (= accuracy) is not drawn twice, the
    selected epoch is marked, and legends sit outside the data.
    """
    if "epoch" not in history.columns:
        raise ValueError(f"history needs an 'epoch' column; has {list(history.columns)}")
    if history.empty:
        raise ValueError("history is empty")
    numeric = [c for c in history.columns if c != "epoch" and pd.api.types.is_numeric_dtype(history[c])]
    val_cols = _headline([c for c in numeric if c.startswith("val_")])
    test_cols = _headline([c for c in numeric if c.startswith("test_")])
    rest = [c for c in numeric if not c.startswith(("val_", "test_"))]
    # engine histories name losses train_loss_*; anything else is a model diagnostic (e.g. COOLANT's g)
    loss_cols = [c for c in rest if c.startswith("train_loss_")] or rest
    diag_cols = [c for c in rest if c not in loss_cols]
    if not loss_cols and not val_cols:
        raise ValueError("history has no loss terms and no val_* columns to draw")
    loss_cols = _drawn_losses(history, loss_cols)
    diag_cols = _drawn_losses(history, [c for c in diag_cols if not c.endswith("_std")])
    val_cols, test_cols = _drawn_metrics(history, val_cols), _drawn_metrics(history, test_cols)
    ep = history["epoch"].to_numpy()
    panels = 3 if diag_cols else 2
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.2))
    ax_l, ax_v = axes[0], axes[1]
    if diag_cols:
        ax_d = axes[2]
        for c in diag_cols:
            values = history[c].to_numpy(dtype=float)
            (line,) = ax_d.plot(ep, values, marker=".", label=c)
            std_column = f"{c.removesuffix('_mean')}_std"  # "<name>_mean" / "<name>_std" (benchmark.activity)
            if std_column in history.columns:  # a band of one standard deviation over items
                std = history[std_column].to_numpy(dtype=float)
                ax_d.fill_between(ep, values - std, values + std, alpha=0.15, color=line.get_color())
        ax_d.set_ylabel("value (mean over training items, ± std)")
        ax_d.set_title("model diagnostics")
    for c in loss_cols:
        ax_l.plot(ep, history[c].to_numpy(dtype=float), marker=".", label=c.removeprefix("train_loss_"))
    scale = loss_scale(history, loss_cols)
    ax_l.set_yscale(scale)
    ax_l.set_ylabel("training loss" + (" (log scale)" if scale == "log" else ""))
    ax_l.set_title("loss terms")
    for c in val_cols:
        ax_v.plot(ep, history[c].to_numpy(dtype=float), marker=".", label=c.removeprefix("val_"))
    for c in test_cols:
        ax_v.plot(ep, history[c].to_numpy(dtype=float), linestyle="--",
                  label=f"{c.removeprefix('test_')} on test (as-released only)")
    ax_v.set_ylabel("validation metric")
    ax_v.set_title("validation metrics")
    for ax in axes:
        _integer_epochs(ax)
        if selected_epoch is not None and selected_epoch >= 1:
            ax.axvline(selected_epoch, color="grey", linestyle=":", linewidth=1.2,
                       label=f"selected epoch {selected_epoch}")
        _legend_outside(ax)
    if title:
        fig.suptitle(title, y=0.98)
    fig.tight_layout()
    if synthetic:
        _mark_synthetic(fig)
    return _save(fig, out_path_stem, formats)


PaperRow = tuple[str, "float | None", float, float, float]


def paper_vs_reproduced(panels: Mapping[str, Sequence[PaperRow]] | Sequence[PaperRow], out_path_stem: str | Path,
                        title: str = "", xlabel: str = "accuracy", synthetic: bool = False) -> list[Path]:
    """Reproduced mean with its 95% interval (bar) beside the paper's value (cross) for each labelled row.

    ``panels`` maps a metric label (the x-axis name) to rows (label, paper or None, mean, ci_low, ci_high);
    one panel per headline metric, side by side. A plain list of rows is one panel named ``xlabel``.
    """
    if not isinstance(panels, Mapping):
        panels = {xlabel: panels}
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        raise ValueError("paper_vs_reproduced needs at least one row")
    n_rows = max(len(rows) for rows in panels.values())
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 2.5, 0.45 * n_rows + 1.6),
                             squeeze=False, sharey=False)
    for ax, (metric, rows) in zip(axes.flat, panels.items()):
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
        ax.hlines(y, low, high, color="#1f77b4", linewidth=2, label="reproduced, 95% CI")
        ax.plot(mean, y, "o", color="#1f77b4", label="reproduced mean")
        paper = [(yy, r[1]) for yy, r in zip(y, rows) if r[1] is not None]
        if paper:
            ax.scatter([p for _, p in paper], [yy for yy, _ in paper], marker="x", color="#d62728", zorder=3,
                       label="paper")
        ax.set_yticks(y)
        first_labels = [r[0] for r in next(iter(panels.values()))]
        same_rows = ax is not axes.flat[0] and labels == first_labels
        ax.set_yticklabels([""] * len(labels) if same_rows else labels)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
    handles, names = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat[1:]:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h), names.append(n)
    axes.flat[-1].legend(handles, names, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
                         frameon=False, borderaxespad=0)
    if title:
        fig.suptitle(title, y=0.99)
    fig.tight_layout()
    if synthetic:
        _mark_synthetic(fig)
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
