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
from typing import Any

from benchmark.tracking import fingerprint

# keys that vary *within* one setting (a table row averages over them)
PER_CELL_KEYS = ("seed",)


def cell_identity(*, model: str, variant: str, config: Any, dataset: str, splits: Any, encoders: dict[str, str],
                  seed: int, protocol: str, limit: int | None, precision: str,
                  data_fingerprint: str | None = None) -> dict[str, Any]:
    """Everything that changes a cell's stored result. ``config`` is the resolved model config (it
    already holds ``max_epochs``, row overrides and ``--params best``); ``splits``/``features`` the
    loaded data (its split policy and cluster unit included); ``encoders`` the identities of the
    encoders featurising it (role -> identity, precision included); ``precision``
    the training precision ("fp32" or "bf16"; the featurising precision is in the encoder ids);
    ``data_fingerprint``: ``splits.fingerprint()`` when the caller already has it (it hashes every item)."""
    return {
        "model": model,
        "variant": variant,
        "config": fingerprint(dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config),
        "dataset": dataset,
        "data": data_fingerprint or splits.fingerprint(),
        "split": getattr(splits, "split_policy", None),
        "cluster_unit": getattr(splits, "cluster_unit", None),
        "limit": limit,
        "encoders": dict(encoders),
        "precision": precision,
        "protocol": protocol,
        "seed": seed,
    }


def setting_of(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity without the per-cell keys (seed): cells of one setting may share a table row."""
    return {k: v for k, v in identity.items() if k not in PER_CELL_KEYS}


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
