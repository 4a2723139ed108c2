"""The table3 report: a study's trials ranked by their validation objective, from the study storage alone.

Rendered like every table (``reports.render``: Markdown, LaTeX, tidy CSV from one ``TableData``), with
the parameter-importance figure of ``reports.figures``. Test metrics appear once, for the study's best
configuration (the sweep evaluates test once per finished study, never per trial).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from benchmark.deviations import footnote_lines
from benchmark.sweep_storage import STORAGE_ENV, open_storage, stored_sweeps
from reports.render import render
from reports.tables import Cell, TableData, TableRow

log = logging.getLogger(__name__)
_SKIP_PARAMS = ("enqueued",)


def trials_frame(study: optuna.Study, metric: str) -> pd.DataFrame:
    """One row per finished trial, ranked by the validation objective (complete, then pruned, failed)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.WAITING, TrialState.RUNNING):
            continue
        sampled = t.user_attrs.get("sampled") or t.params
        last = t.intermediate_values[t.last_step] if t.last_step is not None else None
        rows.append({"trial": t.number, "state": t.state.name, **sampled,
                     metric: t.value if t.state == TrialState.COMPLETE else last,
                     "n_train": t.user_attrs.get("n_train"), "best_epoch": t.user_attrs.get("best_epoch"),
                     "epochs_run": t.user_attrs.get("epochs_run")})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2}
    frame["_state"] = frame["state"].map(order).fillna(3)
    frame = frame.sort_values(["_state", metric, "trial"], ascending=[True, False, True], na_position="last")
    frame = frame.drop(columns="_state").reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:g}" if value == int(value) and abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def importance(study: optuna.Study, out_stem: Path) -> tuple[list[Path], str]:
    """fANOVA importances of the parameters for the objective (figure + one line), or why there are none."""
    from reports.figures import param_importance
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return [], f"parameter importances need at least 2 complete trials (have {len(complete)})"
    try:
        values = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError) as exc:
        return [], f"parameter importances not available: {exc}"
    if not values:
        return [], "parameter importances not available: no parameter varied across complete trials"
    paths = param_importance(values, out_stem, title=f"{study.study_name} ({len(complete)} complete trials)")
    note = "importances (fANOVA, validation objective): " + ", ".join(f"{k} {v:.2f}" for k, v in values.items())
    if len(complete) < 5:
        note += f" (only {len(complete)} complete trials: indicative at best)"
    return paths, note


def study_table(study: optuna.Study, suite, summary: dict[str, Any], importance_note: str) -> TableData:
    """The decided table of a study: one row per trial, the paper's best configuration located."""
    metric = summary["metric"]
    frame = trials_frame(study, metric)
    counts = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] += 1
    paper = dict(suite.study.get("paper_best") or {})
    header = [
        f"Model {summary['model']} (variant {summary['variant']}) on {summary.get('slot_label', summary['dataset'])} "
        f"({summary.get('data_source', '')}: {summary['dataset']}); split {summary.get('split')}; precision "
        f"{summary.get('precision')}; encoders {', '.join(f'{k} {v.split(chr(124))[0]}' for k, v in (summary.get('encoders') or {}).items()) or 'not recorded'}",
        f"Protocol clean: trials ranked by {metric} of the selected epoch (the objective); trials never "
        f"evaluate test. Study {summary['study']}: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
        f"{counts['FAIL']} failed of {summary['trials_requested']} requested"
        + (f"; epochs capped at {summary['max_epochs']}" if summary.get("max_epochs") else "")
        + (f"; splits limited to {summary['limit']} items" if summary.get("limit") else ""),
        "train_test_ratio: validation and test stay as the split policy made them; the ratio sets how many "
        "training items a trial uses (n_train = n_test x r / (1 - r), capped at the training split; "
        "column n_train). The paper re-split train+test per ratio, which leaks across splits.",
    ]
    test = summary.get("best_test_metrics_reported_only")
    if test:
        header.append(f"Test, evaluated once for the best trial ({summary['best_trial']}): "
                      + ", ".join(f"{k} {v:.3f}" for k, v in sorted(test.items()) if k in suite.metrics))
    elif summary.get("best_trial") is not None:
        header.append("Test not evaluated yet: the study has not finished its requested trials.")
    if summary.get("data_source") == "synthetic":
        header.insert(0, "SYNTHETIC DATA: these numbers say nothing about the paper.")
    columns = [c for c in frame.columns if c not in ("rank",)] if not frame.empty else []
    rows = []
    for _, r in frame.iterrows():
        is_paper = bool(paper) and all(str(r.get(k)) == str(v) for k, v in paper.items())
        label = f"{int(r['rank'])}" + (" (paper's best)" if is_paper else "")
        rows.append(TableRow(label, [Cell(_text(r[c]), {c: (None if pd.isna(r[c]) else r[c])
                                                        if not isinstance(r[c], str) else r[c]})
                                     for c in columns]))
    footnotes = [importance_note, *footnote_lines([(f"{summary['model']}:{summary['variant']}", summary["model"],
                                                    summary["variant"])])]
    return TableData(title=suite.title, header=header, columns=columns, rows=rows, footnotes=footnotes,
                     row_header="rank", name=suite.name)


def write_study_report(study: optuna.Study, suite, summary: dict[str, Any], workdir: Path,
                       suffix: str = "") -> list[Path]:
    """``<workdir>/reports/<suite>/table{suffix}.md|.tex|.csv`` and ``importance{suffix}.png|.pdf``."""
    out = Path(workdir) / "reports" / suite.name
    out.mkdir(parents=True, exist_ok=True)
    figures, note = importance(study, out / f"importance{suffix}")
    paths = []
    for ext, text in render(study_table(study, suite, summary, note)).items():  # one slot per suffix
        path = out / f"table{suffix}.{ext}"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths + figures


def write_sweep_report(suite, workdir: Path) -> list[Path]:
    """``bench report --suite table3``: rebuild the report of the latest stored study of each slot."""
    latest: dict[str, dict[str, Any]] = {}
    for data in stored_sweeps(workdir):
        if data.get("suite") == suite.name:
            slot = data.get("slot", "")
            if slot not in latest or str(data.get("updated", "")) >= str(latest[slot].get("updated", "")):
                latest[slot] = data
    paths: list[Path] = []
    for slot, data in sorted(latest.items()):
        storage = os.environ.get(STORAGE_ENV) if "***" in data["storage"] else data["storage"]
        if not storage:
            log.warning("study %s: its storage URL has a hidden password; set %s to rebuild its report",
                        data["study"], STORAGE_ENV)
            continue
        study = optuna.load_study(study_name=data["study"], storage=open_storage(storage))
        paths += write_study_report(study, suite, data, workdir, suffix="" if len(latest) == 1 else f"-{slot}")
    return paths
