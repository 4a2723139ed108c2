"""Module activity: how much a model's per-item gates, attention or ambiguity weights vary across items.

Why: an ablation row such as "w/o ATT" only means something if the attention it removes actually
varies from item to item in the full model. A weight that is the same for every item is a constant
rescaling the next linear layer absorbs, so removing it removes nothing. Models put their per-item
weights in ``ModelOutput.diagnostics`` (``(B,)`` or ``(B, k)`` tensors) and name the columns in
``DetectorModel.activity_channels``; this module turns them into the across-item mean and std that
the engine logs per training epoch (``<name>_std`` in history.csv) and on the evaluated items
(``activity_<name>_std`` in the validation / test metrics), and that ``reports.tables`` shows beside
ablation rows.

Collapse threshold (``COLLAPSE_STD = 0.01``): a weight whose across-item std is below 0.01 moves the
feature it scales by less than +-1 percentage point from item to item, i.e. by about 3% of a weight
of 1/3 (three modalities) and less than 2% of a g in [0.5, 1). Measured cells fall on either side
with a gap (real MediaEval, last epoch, 5 seeds, issue 25): active full-COOLANT cells had g std
0.13-0.21 and attention std 0.07-0.30; the cells called collapsed had attention std 0.000-0.007
(w/o ITC seed 4, w/o ITM seed 0) and the unguided w/o-AGU attention 0.003-0.028 (at the border,
which is why it is reported as a number beside the row and not only as a flag). A weight whose
mean is pinned within ``PINNED_MARGIN`` of 0 or 1 (e.g. g -> 0.995) is flagged too: it is saturated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

COLLAPSE_STD = 0.01
PINNED_MARGIN = 0.01
PREFIX = "activity_"


def item_columns(diagnostics: Mapping[str, torch.Tensor], channels: Mapping[str, tuple[str, ...]],
                 ) -> dict[str, torch.Tensor]:
    """Named (B,) per-item columns of a model's diagnostics (a (B, k) entry split by ``channels``).

    Diagnostics not named in ``channels`` are ignored; a named entry whose width disagrees with its
    channel names is an error naming both (a model and its ``activity_channels`` out of step).
    """
    out: dict[str, torch.Tensor] = {}
    for key, names in channels.items():
        if key not in diagnostics:
            continue
        value = diagnostics[key].detach()
        if value.dim() == 1:
            value = value.unsqueeze(1)
        if value.dim() != 2 or value.shape[1] != len(names):
            raise ValueError(f"diagnostic {key!r} has shape {tuple(value.shape)} but activity_channels names "
                             f"{len(names)} column(s) {names}; make them agree")
        for k, name in enumerate(names):
            out[name] = value[:, k]
    return out


class ActivityAccumulator:
    """Running count / sum / sum of squares (float64: small stds survive) of named per-item values."""

    def __init__(self) -> None:
        self._sums: dict[str, list[float]] = {}

    def add(self, name: str, values: torch.Tensor) -> None:
        v = values.detach().double()
        acc = self._sums.setdefault(name, [0.0, 0.0, 0.0])
        acc[0] += v.numel()
        acc[1] += float(v.sum())
        acc[2] += float(v.pow(2).sum())

    def add_columns(self, columns: Mapping[str, torch.Tensor]) -> None:
        for name, values in columns.items():
            self.add(name, values)

    def moments(self) -> dict[str, tuple[float, float]]:
        """(mean, population std) over all items added, per name; then reset."""
        out = {}
        for name, (n, total, squares) in self._sums.items():
            if n == 0:
                continue
            mean = total / n
            out[name] = (mean, math.sqrt(max(squares / n - mean * mean, 0.0)))
        self._sums = {}
        return out

    def summary(self, prefix: str = PREFIX) -> dict[str, float]:
        """``{prefix}<name>_mean`` and ``{prefix}<name>_std`` per name; then reset."""
        out: dict[str, float] = {}
        for name, (mean, std) in self.moments().items():
            out[f"{prefix}{name}_mean"] = mean
            out[f"{prefix}{name}_std"] = std
        return out


def within_model_moments(parts: list[tuple[int, float, float]]) -> tuple[float, float]:
    """(mean, within-model std) over the union of disjoint item sets, each scored by its own model, from
    each set's (count, mean, population std): the item-weighted mean, and the root of the item-weighted
    mean of the sets' variances. Why not the std of the union: a cross-validated seed is K fold models,
    and a weight that is constant inside each model but differs between folds rescales nothing per
    item; the fold-to-fold shift of the means is between models, not across items."""
    n = sum(k for k, _, _ in parts)
    if n <= 0:
        raise ValueError("within_model_moments needs at least one item")
    mean = sum(k * m for k, m, _ in parts) / n
    return mean, math.sqrt(sum(k * s * s for k, _, s in parts) / n)


def collapsed(mean: float, std: float) -> bool:
    """True when a weight is constant across items (std < COLLAPSE_STD) or saturated at 0 or 1."""
    return std < COLLAPSE_STD or mean < PINNED_MARGIN or mean > 1.0 - PINNED_MARGIN


def activity_names(metrics: Mapping[str, float], prefix: str = PREFIX) -> list[str]:
    """The weight names with a logged ``{prefix}<name>_std`` in ``metrics``, in logged order."""
    return [k[len(prefix):-len("_std")] for k in metrics if k.startswith(prefix) and k.endswith("_std")]
