"""A cell's identity: every setting that changes its result, built as one dict in one function.

Why: a cell is a pure function of its identity, so "finished earlier" (``bench run`` skips it) and
"comparable" (a report averages it with other seeds) must both mean "same identity". Before, cells
matched on (row, dataset, seed, protocol) only, and a report showed a 1-epoch seed beside a 2-epoch
seed as n=2. Adding a key (a split policy, a cluster unit) is one line in ``cell_identity``.

Code-version policy: the git commit is recorded as a tag on every run but is *not* part of the
identity (a refactor must not invalidate a week of training); a change of a model's defaults is caught
by the resolved-config fingerprint, which is part of it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from benchmark.tracking import fingerprint

# keys that vary *within* one setting (a table row averages over seeds and pools a seed's folds)
PER_CELL_KEYS = ("seed",)
PER_CELL_DESIGN_KEYS = ("fold",)


def cell_identity(*, model: str, variant: str, config: Any, dataset: str, data_fingerprint: str,
                  split: str | None, cluster_unit: str | None, encoders: dict[str, str], seed: int, protocol: str,
                  limit: int | None, precision: str, design: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that changes a cell's stored result. ``config`` is the resolved model config (it
    already holds ``max_epochs``, row overrides and ``--params best``); ``data_fingerprint`` hashes every
    loaded item (``splits.fingerprint()``); ``split``/``cluster_unit`` the split policy and cluster unit;
    ``encoders`` the identities of the encoders featurising it (role -> identity, precision included);
    ``precision`` the training precision ("fp32" or "bf16"). ``design``: keys of an evaluation design
    beyond the published split (a fold, a train/test dataset pair); added only when given, so cells
    stored before designs existed keep their identity."""
    identity = {
        "model": model,
        "variant": variant,
        "config": fingerprint(dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config),
        "dataset": dataset,
        "data": data_fingerprint,
        "split": split,
        "cluster_unit": cluster_unit,
        "limit": limit,
        "encoders": dict(encoders),
        "precision": precision,
        "protocol": protocol,
        "seed": seed,
    }
    if design:
        identity["design"] = dict(design)
    return identity


@dataclass(frozen=True)
class CellSpec:
    """One cell, resolved once: everything planning, training (``benchmark.training.train_cell``) and
    recording (``benchmark.recording``) read. A suite cell and an Optuna trial are both a CellSpec.

    ``options`` carries how the data is loaded and featurised (data root, split policy, encoders,
    missing-image policy) with ``precision`` already resolved; ``design`` holds the keys of an
    evaluation design beyond the dataset's split (room for a fold index, a train/test dataset pair);
    ``data_params`` the data parameters of a sweep trial (e.g. a train/test ratio)."""

    suite: str
    row: str  # the suite row's label
    model: str
    variant: str
    config: Any  # the resolved model config (a dataclass)
    slot: str  # dataset slot id, e.g. "twitter"
    slot_label: str
    dataset: str  # registered dataset name
    data_source: str  # "real" | "synthetic"
    options: Any  # benchmark.loading.RunOptions (precision resolved)
    seed: int
    limit: int | None
    data_fingerprint: str
    split: str | None
    cluster_unit: str | None
    encoders: tuple[tuple[str, str], ...]  # (role, identity) pairs: frozen
    keep_representation: bool = False
    design: tuple[tuple[str, Any], ...] = ()
    data_params: tuple[tuple[str, Any], ...] = ()

    @property
    def precision(self) -> str:
        return str(self.options.precision)

    @property
    def protocol(self) -> str:
        return str(self.options.protocol)

    @property
    def device(self) -> str:
        return str(self.options.device)

    @property
    def encoder_ids(self) -> dict[str, str]:
        return dict(self.encoders)

    @property
    def fold(self) -> int | None:
        return dict(self.design).get("fold")

    @property
    def name(self) -> str:
        """'row | slot | seed N' (and '| fold k' under cross-validation) for messages."""
        return f"{self.row} | {self.slot_label} | seed {self.seed}" + (f" | fold {self.fold}" if self.design else "")

    def identity(self) -> dict[str, Any]:
        return cell_identity(model=self.model, variant=self.variant, config=self.config, dataset=self.dataset,
                             data_fingerprint=self.data_fingerprint, split=self.split,
                             cluster_unit=self.cluster_unit, encoders=self.encoder_ids, seed=self.seed,
                             protocol=self.protocol, limit=self.limit, precision=self.precision,
                             design=dict(self.design) or None)

    @property
    def key(self) -> str:
        return identity_key(self.identity())


def setting_of(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity without the per-cell keys (seed; a cross-validation fold): cells of one setting may
    share a table row."""
    out = {k: v for k, v in identity.items() if k not in PER_CELL_KEYS}
    if isinstance(out.get("design"), dict):
        out["design"] = {k: v for k, v in out["design"].items() if k not in PER_CELL_DESIGN_KEYS}
    return out


def identity_key(identity: dict[str, Any]) -> str:
    """Short stable hash of an identity (MLflow tag ``cell_key``)."""
    return fingerprint(identity)


def setting_key(identity: dict[str, Any]) -> str:
    """Short stable hash of a setting (MLflow tag ``setting_key``)."""
    return fingerprint(setting_of(identity))


def identity_tags(identity: dict[str, Any]) -> dict[str, str]:
    """The tags a cell run carries so the store can match and explain identities."""
    return {"cell_key": identity_key(identity), "setting_key": setting_key(identity),
            "cell_identity": json.dumps(identity, sort_keys=True, default=str)}


def stored_identity(tags: dict[str, str]) -> dict[str, Any] | None:
    """The identity a run was stored with, or None for runs older than identity tags."""
    raw = tags.get("cell_identity")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None


def describe_difference(kept: dict[str, Any] | None, other: dict[str, Any] | None,
                        kept_params: dict[str, str] | None = None,
                        other_params: dict[str, str] | None = None) -> str:
    """Human words for how ``other``'s setting differs from ``kept``'s, e.g. 'max_epochs 1 (table: 2)'."""
    if kept is None or other is None:
        return "stored before cell identities were recorded"
    parts = []
    for key in sorted(set(setting_of(kept)) | set(setting_of(other))):
        a, b = kept.get(key), other.get(key)
        if a == b:
            continue
        if key == "config" and kept_params is not None and other_params is not None:
            changed = [k for k in sorted(set(kept_params) | set(other_params))
                       if k not in ("seed", "n_params") and kept_params.get(k) != other_params.get(k)]
            if changed:
                parts += [f"{k} {other_params.get(k)} (table: {kept_params.get(k)})" for k in changed[:4]]
                continue
        parts.append(f"{key} {b} (table: {a})")
    return ", ".join(parts) or "same setting"
