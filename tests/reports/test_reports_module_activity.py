"""Module-activity footnotes beside ablation rows (issue 25): numbers, reference row, collapsed seeds."""

from __future__ import annotations

import pandas as pd

from reports.records import CellRecord
from reports.tables import module_activity_lines


def _rec(row: str, seed: int, att_std: tuple[float, float, float], g: tuple[float, float] | None = None,
         status: str = "FINISHED") -> CellRecord:
    metrics = {"accuracy": 0.7}
    for name, std in zip(("image", "text", "fusion"), att_std):
        metrics[f"activity_attention_w_{name}_mean"] = 1 / 3
        metrics[f"activity_attention_w_{name}_std"] = std
    if g is not None:
        metrics["activity_ambiguity_mean"], metrics["activity_ambiguity_std"] = g
    return CellRecord(suite="table2", model="coolant", variant="x", row=row, dataset="twitter",
                      dataset_name="mediaeval2016", data_source="real", seed=seed, protocol="clean",
                      metrics=metrics, predictions=pd.DataFrame(), status=status)


def test_activity_lines_show_row_reference_and_collapsed_seeds() -> None:
    records = [_rec("COOLANT", 0, (0.2, 0.1, 0.3), (0.73, 0.15)), _rec("COOLANT", 1, (0.1, 0.1, 0.1), (0.995, 0.2)),
               _rec("w/o AGU", 0, (0.004, 0.002, 0.006)), _rec("w/o AGU", 1, (0.02, 0.01, 0.03)),
               _rec("w/o AGU", 2, (0.5, 0.5, 0.5), status="FAILED"), _rec("Other", 0, (0.2, 0.2, 0.2))]
    records[-1].metrics = {"accuracy": 0.5}  # a model without per-item weights: no line
    lines = module_activity_lines(records, ["COOLANT", "w/o AGU", "Other"], ["twitter"], "COOLANT")
    coolant, agu, rule = lines
    # max over the three attention weights per seed, mean over seeds: (0.3 + 0.1) / 2
    assert "attention across-item std 0.200 (seeds 0.100-0.300)" in coolant
    assert "ambiguity across-item std 0.175" in coolant
    assert "COLLAPSED: seed 1 (ambiguity std 0.200, mean 0.995)" in coolant  # g pinned at 1
    assert "full model" not in coolant
    # w/o AGU: (0.006 + 0.03) / 2 = 0.018 beside the full model's 0.200; seed 0 collapsed, the failed seed ignored
    assert "w/o AGU on twitter, 2 seed(s)" in agu
    assert "attention across-item std 0.018 (seeds 0.006-0.030) (full model 0.200)" in agu
    assert "COLLAPSED: seed 0 (attention std 0.006" in agu and "seed 1" not in agu.split("COLLAPSED")[1]
    assert "below 0.01" in rule


def test_no_activity_no_lines() -> None:
    rec = _rec("COOLANT", 0, (0.2, 0.2, 0.2))
    rec.metrics = {"accuracy": 0.7}
    assert module_activity_lines([rec], ["COOLANT"], ["twitter"], "COOLANT") == []


def test_a_cross_validated_seed_names_its_collapsed_fold_model() -> None:
    # pooled within-model std 0.1 looks active, but fold 1's own model kept its attention constant
    import json
    rec = _rec("w/o AGU", 0, (0.1, 0.1, 0.1))
    fold = lambda std: {f"activity_attention_w_{n}_{k}": (1 / 3 if k == "mean" else std)  # noqa: E731
                        for n in ("image", "text", "fusion") for k in ("mean", "std")}
    rec.tags = {"fold_activity": json.dumps([fold(0.14), fold(0.004)])}
    line, cv_rule, _ = module_activity_lines([rec], ["w/o AGU"], ["twitter"], "COOLANT")
    assert "COLLAPSED: seed 0 (fold 1: attention std 0.004" in line and "fold 0" not in line
    assert "judged per fold model" in cv_rule
