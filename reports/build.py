"""Building a suite's report from the MLflow store alone: tables, figures and the index page.

Nothing here trains or reads a model: every number comes from the stored cells (metrics and per-item
predictions), so `bench report` can rebuild, re-score or re-test any table at any time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import statistics
from pathlib import Path

from benchmark.deviations import footnote_lines
from benchmark.registry import SUITES, load_plugins
from benchmark.suites.resolve import suite_config_fingerprint, suite_rows
from benchmark.suites import Suite
from reports.records import CellRecord
from reports.reference import NOVEMOFAKE_CLAIMS, load_reference, reference_lookup
from reports.render import IndexEntry, render_latex, render_markdown, write_index, write_table
from reports.store import LeftOut, load_cells, load_records, suite_invocation_tags
from reports.tables import (TableData, design_text, difference_table, mcnemar_table, metric_table,
                            module_activity_lines, protocol_gap_table)

log = logging.getLogger(__name__)
SYNTHETIC_NOTE = ("SYNTHETIC DATA: these numbers come from the embedded synthetic set, not from the papers' "
                  "datasets; they test the harness, not the papers' claims.")


def report_dir(workdir: Path, suite_name: str, protocol: str = "clean") -> Path:
    """Where a suite's report lives: ``reports/<suite>/`` for the clean protocol, and
    ``reports/<suite>/as-released/`` for the as-released one (so neither overwrites the other)."""
    out = Path(workdir) / "reports" / suite_name
    return out if protocol == "clean" else out / protocol


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "cell"


def _missing(suite: Suite, workdir: Path) -> dict[tuple[str, str], str]:
    """Slots, and rows of a slot (e.g. background-knowledge rows on data without sources), that the
    newest invocation resolving them found unavailable (slots never run are left out)."""
    invocations = suite_invocation_tags(workdir, suite.name)
    out = {}
    for slot in suite.datasets:
        tags = next((tags for tags in invocations if f"slot.{slot.id}" in tags), {})
        status = tags.get(f"slot.{slot.id}", "")
        if status.startswith("not available"):
            out[(slot.id, "*")] = status.split(": ", 1)[-1]
        rows = json.loads(tags.get("rows_not_available") or "{}").get(slot.id, {})
        out.update({(slot.id, row): reason for row, reason in rows.items()})
    return out


def _running(suite: Suite, workdir: Path, protocol: str | None) -> set[tuple[str, str]]:
    """(slot, row) pairs with a cell being trained now (a RUNNING run whose process is alive)."""
    from benchmark.tracking import Tracker, pid_alive
    out = set()
    for run in Tracker(Path(workdir)).cell_runs(suite.name, statuses=("RUNNING",)):
        t = run.data.tags
        if (protocol is None or t.get("protocol") == protocol) and t.get("pid", "").isdigit() \
                and pid_alive(int(t["pid"])):
            out.add((t.get("dataset", ""), t.get("row", "")))
    return out


def _paper_only_rows(suite: Suite) -> list[str]:
    """Rows of the suite's reference table without an implementation: shown with the paper's value only."""
    if not suite.reference:
        return []
    implemented = {r.label for r in suite_rows(suite)}
    return list(dict.fromkeys(row for row in load_reference(suite.reference)["row"] if row not in implemented))


def _title(suite: Suite, records: list[CellRecord], protocol: str) -> str:
    synthetic = any(r.data_source == "synthetic" for r in records)
    return f"{suite.title} [protocol: {protocol}]" + (" [SYNTHETIC DATA]" if synthetic else "")


def _per_dataset(records: list[CellRecord], value) -> str:
    found: dict[str, set[str]] = {}
    for rec in records:
        found.setdefault(rec.dataset, set()).add(value(rec))
    return "; ".join(f"{d}: {' | '.join(sorted(v))}" for d, v in sorted(found.items()))


def _decorate(table: TableData, records: list[CellRecord]) -> TableData:
    """Synthetic warning; the design (split or cross-validation) and the encoders named per dataset slot
    (they differ by language); under cross-validation, each row's fold-to-fold spread."""
    if any(r.data_source == "synthetic" for r in records):
        table.header.insert(0, SYNTHETIC_NOTE)
    if records:
        encoders = _per_dataset(records, lambda r: r.tags.get("encoders") or "not recorded")
        table.header = [f"Encoders: {encoders}" if line.startswith("Encoders: ") else line for line in table.header]
        table.header.append("Design: " + _per_dataset(records, lambda r: (
            f"{design_text(r)} (cluster unit {r.tags.get('cluster_unit', 'image')})")))
        table.header.append("Precision: " + _per_dataset(records, lambda r: r.tags.get("precision") or "not recorded"))
        table.header.append("Machine: " + _per_dataset(records, machine_text))
        table.header.append("Features: " + _per_dataset(records, lambda r: r.tags.get("features_fingerprint")
                                                        or "not recorded"))
        mixed = mixed_features_note(records)
        if mixed:
            table.footnotes.append(mixed)
        spread = fold_spread_lines(records)
        if spread:
            table.footnotes.append("Fold-to-fold spread of accuracy (each fold's test accuracy; range over folds, "
                                   "mean over seeds of the folds' standard deviation): " + "; ".join(spread) + ".")
        emotion = [r for r in records if "emotion_val_accuracy" in r.prepare_metrics]
        if emotion:
            table.header.append(emotion_header(emotion))
    return table


def machine_text(record: CellRecord) -> str:
    """'<CPU> (<instruction set>), <n> featurising thread(s)' from a cell's ``machine.*`` tags."""
    tags = record.tags
    if "machine.cpu" not in tags:
        return "not recorded"
    return (f"{tags['machine.cpu']} ({tags.get('machine.cpu_isa', '?')}), "
            f"{tags.get('machine.torch_threads', '?')} featurising thread(s)")


def mixed_features_note(records: list[CellRecord]) -> str:
    """A footnote when the cells of one dataset trained on different feature tensors: the feature cache
    was rebuilt between runs on another machine or thread count, so equal seeds are not exact repeats."""
    prints: dict[str, dict[str, int]] = {}
    for rec in records:
        value = rec.tags.get("features_fingerprint")
        if value:
            counts = prints.setdefault(rec.dataset, {})
            counts[value] = counts.get(value, 0) + 1
    mixed = {d: c for d, c in prints.items() if len(c) > 1}
    if not mixed:
        return ""
    parts = [f"{d}: " + ", ".join(f"{fp} ({n} cells)" for fp, n in sorted(c.items())) for d, c in sorted(mixed.items())]
    return ("Cells trained on different features (fingerprints differ): " + "; ".join(parts) + ". The same encoders "
            "give features that differ in the last bits on another CPU type or torch thread count, and training "
            "amplifies that: such cells' per-seed numbers are not exact repeats of each other (features_fingerprint, "
            "README, reproducibility).")


def fold_spread_lines(records: list[CellRecord]) -> list[str]:
    """'row on slot: folds 0.61-0.93, sd 0.11 (3 seeds)' for every row pooled from cross-validation folds."""
    by_cell: dict[tuple[str, str], list[list[float]]] = {}
    for r in records:
        if r.status == "FINISHED" and r.tags.get("fold_accuracy"):
            by_cell.setdefault((r.row, r.dataset), []).append(json.loads(r.tags["fold_accuracy"]))
    out = []
    for (row, slot), seeds in sorted(by_cell.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        flat = [a for seed in seeds for a in seed]
        sds = [statistics.stdev(seed) for seed in seeds if len(seed) > 1]
        out.append(f"{row} on {slot}: folds {min(flat):.3f}-{max(flat):.3f}"
                   + (f", sd {statistics.fmean(sds):.3f}" if sds else "") + f" ({len(seeds)} seed(s))")
    return out


def table_metrics(metrics) -> list[str]:
    """A suite's metrics, then the cluster-weighted form of each that has one (``accuracy@cluster`` ...)."""
    from benchmark.metrics import CLUSTER_SUFFIX, CLUSTER_WEIGHTED
    return [*metrics, *(m + CLUSTER_SUFFIX for m in metrics if m in CLUSTER_WEIGHTED)]


def emotion_header(records: list[CellRecord]) -> str:
    """The emotion model's own validation accuracy (held-out emotion photos, 2 groups), per dataset slot."""
    def line(r: CellRecord) -> str:
        m = r.prepare_metrics
        return (f"accuracy {m['emotion_val_accuracy']:.3f}, balanced {m.get('emotion_val_balanced_accuracy', float('nan')):.3f} "
                f"on {int(m.get('emotion_val_items', 0))} held-out photos (majority share "
                f"{m.get('emotion_val_majority_share', float('nan')):.3f})")
    return "Emotion model (2 groups), validation: " + _per_dataset(records, line)


def current_records(suite: Suite, workdir: Path, protocol: str | None,
                    with_representation: bool = False) -> tuple[list[CellRecord], list[CellRecord], list[LeftOut]]:
    """Stored cells of ``suite`` whose row config still matches the suite's definition, the cells
    left out as stale, and the cells the store left out (another setting, damaged artifacts).

    Cells trained under an older default configuration of their row (a model's defaults or the
    suite's overrides changed since) are left out and named, so a table never mixes configurations.
    """
    current = {row.label: suite_config_fingerprint(row) for row in suite_rows(suite)}
    kept, stale = [], []
    stored_cells = load_cells(workdir, suite.name, protocol=protocol, with_representation=with_representation)
    for rec in stored_cells.records:
        stored = rec.tags.get("suite_config_fingerprint")
        if stored and rec.row in current and stored != current[rec.row]:
            stale.append(rec)
        else:
            kept.append(rec)
    return kept, stale, stored_cells.left_out


def reference_for(reference_row: str | None, fallback: str | None, rows: list[str], slots_with_cells: list[str],
                  missing: dict[tuple[str, str], str]) -> tuple[str | None, str | None]:
    """The row every other row is tested against, and a footnote when it is not the suite's own.

    Why: a reference that cannot run on any slot that has results (table4's SAFE (WBG) on ReCOVery, which
    has no public background sources) leaves a table with no comparison at all. The suite file may name
    a fallback, fixed before any result (never picked by test scores); it is used only then, and said."""
    ref = reference_row if reference_row in rows else None
    if ref is None or not fallback or fallback not in rows or not slots_with_cells:
        return ref, None
    why = [missing.get((d, ref), missing.get((d, "*"))) for d in slots_with_cells]
    if not all(why):
        return ref, None
    reasons = "; ".join(dict.fromkeys(f"{d}: {w}" for d, w in zip(slots_with_cells, why)))
    return fallback, (f"Reference row: the suite's reference {ref} is not available on any slot with results "
                      f"({reasons}); paired tests use the suite's declared fallback reference {fallback} "
                      "(`fallback_reference_row` in the suite file, fixed before any result).")


def suite_tables(suite: Suite, workdir: Path, protocol: str = "clean") -> list[tuple[str, TableData]]:
    """(sub-folder, table) pairs for a suite: the main table plus claims / protocol-gap tables."""
    records, stale, left_out = current_records(suite, workdir, protocol)
    datasets = [slot.id for slot in suite.datasets]
    missing = _missing(suite, workdir)
    out: list[tuple[str, TableData]] = []
    if suite.kind in ("metrics", "tsne"):
        reference = reference_lookup(suite.reference) if suite.reference else None
        paper_only = _paper_only_rows(suite)
        rows = [r.label for r in suite_rows(suite)] + paper_only
        ref_row, ref_note = reference_for(suite.reference_row, suite.fallback_reference_row, rows,
                                          sorted({r.dataset for r in records}), missing)
        table = metric_table(records, rows, datasets, table_metrics(suite.metrics), reference=reference,
                             reference_row=ref_row, missing=missing, paper_only=paper_only,
                             title=_title(suite, records, protocol), name=suite.name,
                             dataset_labels={slot.id: slot.label for slot in suite.datasets},
                             running=_running(suite, workdir, protocol),
                             margin_points=suite.equivalence_margin)
        if ref_note:
            table.footnotes.append(ref_note)
        table.footnotes.extend(module_activity_lines(records, rows, datasets, ref_row))  # issue 25
        out.append(("", _decorate(table, records)))
    elif suite.kind == "mcnemar":
        table = mcnemar_table(records, list(suite.pairs), datasets, threshold=0.01, paper_claim="p < 0.01",
                              title=_title(suite, records, protocol), name=suite.name)
        out.append(("", _decorate(table, records)))
    if stale and out:
        names = [f"{r.row} on {r.dataset} seed {r.seed} (run {r.run_id[:8]})" for r in stale]
        out[0][1].footnotes.append(
            f"Left out {len(stale)} cell(s) stored under an older configuration of their row (re-run the suite "
            f"to replace them): {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}.")
    if left_out and out:
        out[0][1].footnotes.append(
            f"Left out {len(left_out)} stored cell(s) so that each row holds one setting of verified cells: "
            f"{'; '.join(map(str, left_out[:10]))}{' ...' if len(left_out) > 10 else ''}.")
    if out:  # under the table: the declared deviations of the rows it shows
        out[0][1].footnotes.extend(footnote_lines(
            [(r.label, r.model, r.variant, r.overrides) for r in suite_rows(suite)]))
    if suite.claims:
        claims = [c for c in NOVEMOFAKE_CLAIMS if c.dataset in datasets
                  and {c.row_a, c.row_b} <= {r.label for r in suite_rows(suite)}]
        if claims:
            out.append(("claims", _decorate(difference_table(records, claims, name=f"{suite.name}-claims"),
                                            records)))
    other = "as-released" if protocol == "clean" else "clean"
    other_records, _, _ = current_records(suite, workdir, other)
    if other_records and records and suite.kind == "metrics":
        clean, released = (records, other_records) if protocol == "clean" else (other_records, records)
        gap = protocol_gap_table(clean, released, list(suite.metrics), name=f"{suite.name}-protocol-gap")
        out.append(("protocol_gap", _decorate(gap, records)))
    return out


def suite_figures(suite: Suite, workdir: Path, out_dir: Path, protocol: str = "clean") -> list[Path]:
    """t-SNE panels (tsne suites), training curves per cell, paper-vs-reproduced chart."""
    from reports.figures import paper_vs_reproduced, training_curves, tsne_panels
    from reports.stats import COUNT_METRICS, row_intervals
    from reports.tables import prediction_matrix

    paths: list[Path] = []
    records, _, _ = current_records(suite, workdir, protocol, with_representation=suite.kind == "tsne")
    finished = [r for r in records if r.status == "FINISHED"]
    if suite.kind == "tsne":
        for slot in suite.datasets:
            panels = []
            for row in suite_rows(suite):
                rec = next((r for r in finished if r.row == row.label and r.dataset == slot.id
                            and r.representation is not None), None)
                if rec is not None:
                    panels.append((f"{row.label} (seed {rec.seed})", rec.representation,
                                   rec.predictions["y_true"].to_numpy()))
            if panels:
                paths += tsne_panels(panels, out_dir / f"tsne-{slot.id}")
    paths += _cell_curves(finished, out_dir / "curves", training_curves)
    if suite.reference:
        from benchmark.metrics import metric_label
        reference = reference_lookup(suite.reference)
        for slot in suite.datasets:
            panels: dict[str, list] = {}
            synthetic = False
            for metric in (m for m in suite.metrics if m in COUNT_METRICS):  # from predictions alone
                bars = []
                for row in suite_rows(suite):
                    recs = [r for r in finished if r.row == row.label and r.dataset == slot.id]
                    if not recs or any(metric not in r.metrics for r in recs):
                        continue
                    synthetic = synthetic or any(r.data_source == "synthetic" for r in recs)
                    matrix = prediction_matrix(recs)
                    _, ci = row_intervals(matrix.y_true, matrix.y_pred, metric, matrix.clusters)
                    mean = sum(r.metrics[metric] for r in recs) / len(recs)
                    bars.append((row.label, reference(slot.id, row.label, metric), mean, ci.low, ci.high))
                if bars:
                    panels[metric_label(metric)] = bars
            if panels:
                paths += paper_vs_reproduced(
                    panels, out_dir / f"paper-vs-reproduced-{slot.id}", synthetic=synthetic,
                    title=f"{suite.title}, {slot.label}: reproduced mean and 95% CI (clusters x seeds) vs paper")
    return paths


CURVES_INDEX = "index.json"


def _cell_curves(finished: list[CellRecord], curves: Path, draw) -> list[Path]:
    """One training-curve PNG per finished cell, redrawn only when its inputs changed.

    A cell's curve depends on its stored history, selected epoch and the figure code alone, so
    ``curves/index.json`` keeps a key of those per file and a rebuild skips curves whose key and PNG
    are unchanged (most of a warm re-run's report time was redrawing them). PNG only: the per-cell
    curves are diagnostics for the Markdown report and the MLflow comparison, not paper figures."""
    index_path = curves / CURVES_INDEX
    try:
        index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.is_file() else {}
    except (json.JSONDecodeError, OSError):
        index = {}
    code = _source_digest([Path(draw.__code__.co_filename)])
    paths, fresh = [], {}
    for rec in finished:
        if rec.history is None or not len(rec.history):
            continue
        stem = curves / _slug(f"{rec.row}-{rec.dataset}-seed{rec.seed}")
        png = stem.with_name(stem.name + ".png")
        key = hashlib.sha1(json.dumps([code, rec.run_id, rec.selected_epoch, rec.data_source == "synthetic",
                                       rec.history.to_csv(index=False)]).encode("utf-8")).hexdigest()
        if index.get(png.name) != key or not png.is_file():
            draw(rec.history, stem, title=f"{rec.row} on {rec.dataset} (seed {rec.seed})",
                 selected_epoch=rec.selected_epoch, synthetic=rec.data_source == "synthetic", formats=("png",))
        fresh[png.name] = key
        paths.append(png)
    if fresh:
        curves.mkdir(parents=True, exist_ok=True)
        index_path.write_text(json.dumps(fresh, indent=1, sort_keys=True), encoding="utf-8")
    return paths


def _source_digest(files: list[Path]) -> str:
    digest = hashlib.sha1()
    for path in sorted(files):
        digest.update(path.name.encode("utf-8"))
        digest.update(path.read_bytes())
    return digest.hexdigest()


def report_inputs_key(suite: Suite, workdir: Path, protocol: str, fmt: str, figures: bool) -> str:
    """A key of everything a suite's report is built from: the suite's definition, every stored cell
    run (id and status, both protocols: the protocol-gap table reads the other), the slots and rows the
    newest invocation found unavailable, and the source of the code that renders it (reports, the
    models' declared deviations, the papers' reference numbers). Same key: the same report."""
    from benchmark.tracking import Tracker
    import baselines, ablations, benchmark  # noqa: E401 - their sources feed the footnotes
    runs = sorted((r.info.run_id, r.info.status) for r in Tracker(Path(workdir)).cell_runs(suite.name))
    code = [f for pkg in (benchmark, baselines, ablations) for f in Path(pkg.__file__).parent.rglob("*.py")]
    code += list(Path(__file__).parent.rglob("*.py")) + list(Path(__file__).parent.rglob("*.csv"))
    return hashlib.sha1(json.dumps([repr(suite), protocol, fmt, figures, runs,
                                    sorted(map(str, _missing(suite, workdir).items())),
                                    _source_digest(code)]).encode("utf-8")).hexdigest()


class ReportShrinks(RuntimeError):
    """Rebuilding would replace a table with one holding fewer finished cells."""


def _cells_manifest(out_dir: Path, protocol: str) -> Path:
    return out_dir / f"stored-cells-{protocol}.json"


def guard_shrink(suite: Suite, workdir: Path, out_dir: Path, protocol: str, allow_shrink: bool
                 ) -> tuple[list[str], list[str]]:
    """(the finished cells the new table will hold, those that disappeared from the store).

    Raises ReportShrinks (unless ``allow_shrink``) when the table written last time held cells that are
    now neither in the new table nor deliberately left out (another setting of their row, an older row
    configuration: both explained in the table notes), so a lost, moved or damaged store never
    silently empties a table."""
    records, stale, left_out = current_records(suite, workdir, protocol)
    now = sorted(f"{r.row} | {r.dataset} | seed {r.seed}" for r in records if r.status == "FINISHED")
    deliberate = {c.cell for c in left_out if c.kind == "setting"}
    deliberate |= {f"{r.row} | {r.dataset} | seed {r.seed}" for r in stale}
    manifest = _cells_manifest(out_dir, protocol)
    before: list[str] = []
    if manifest.is_file():
        try:
            before = list(json.loads(manifest.read_text(encoding="utf-8")).get("cells", []))
        except (json.JSONDecodeError, AttributeError):
            log.warning("%s is unreadable; the table is rebuilt without the shrink check", manifest)
    gone = [cell for cell in before if cell not in now and cell not in deliberate]
    if gone and not allow_shrink:
        raise ReportShrinks(
            f"the rebuilt {suite.name} table would hold {len(now)} finished cell(s) instead of {len(before)} "
            f"(no longer in the store or damaged: {', '.join(gone[:8])}{' ...' if len(gone) > 8 else ''}); "
            "the existing report in "
            f"{out_dir} is left untouched. Run `bench doctor --workdir {workdir}` to see why, or pass "
            "--allow-shrink to write the smaller table")
    return now, gone


def build_suite_report(suite_name: str, workdir: Path, protocol: str = "clean", fmt: str = "markdown",
                       echo: bool = False, figures: bool = True, allow_shrink: bool = False,
                       skip_if_unchanged: bool = False) -> list[Path]:
    """Write ``report_dir(workdir, suite, protocol)/table.{md,tex,csv}`` (and sub-tables, figures) from
    the store.

    Refuses (ReportShrinks) to replace a table with one holding fewer finished cells unless
    ``allow_shrink``. ``skip_if_unchanged`` (a ``bench run`` that trained nothing): when the report's
    inputs (``report_inputs_key``) are those of the report on disk and its files exist, keep it and
    return its paths."""
    load_plugins()
    suite = SUITES.get(suite_name)
    workdir = Path(workdir)
    out_dir = report_dir(workdir, suite.name, protocol)
    paths: list[Path] = []
    if suite.kind == "sweep":
        from reports.sweep import write_sweep_report
        return write_sweep_report(suite, workdir)
    inputs = report_inputs_key(suite, workdir, protocol, fmt, figures)
    manifest = _cells_manifest(out_dir, protocol)
    if skip_if_unchanged and manifest.is_file():
        try:
            stored = json.loads(manifest.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, OSError):
            stored = {}
        kept = [Path(p) for p in stored.get("paths", [])]
        if stored.get("inputs") == inputs and kept and all(p.is_file() for p in kept):
            print(f"[report] {out_dir}/ is up to date (same cells, same report code); not rebuilt "
                  f"(`bench report --suite {suite.name}` rebuilds it)")
            return kept
    cells, gone = guard_shrink(suite, workdir, out_dir, protocol, allow_shrink)
    if gone:
        print(f"[report] note: cells missing from the store or damaged are no longer shown: "
              f"{', '.join(gone[:8])}{' ...' if len(gone) > 8 else ''} (see the table notes)")
    for sub, table in suite_tables(suite, workdir, protocol):
        written = write_table(table, out_dir / sub if sub else out_dir)
        paths += list(written.values())
        if echo:
            print(render_latex(table) if fmt == "latex" else render_markdown(table))
    if figures:
        paths += suite_figures(suite, workdir, out_dir, protocol)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"cells": cells, "inputs": inputs, "paths": [str(p) for p in paths]},
                                   indent=1), encoding="utf-8")
    return paths


def build_all_reports(workdir: Path, fmt: str = "markdown", allow_shrink: bool = False) -> list[Path]:
    """Every suite with stored runs, plus ``<workdir>/reports/index.md`` linking them with provenance."""
    from benchmark.tracking import Tracker
    load_plugins()
    workdir = Path(workdir)
    tracker = Tracker(workdir)
    entries, paths = [], []
    provenance: dict[str, set] = {"data": set(), "encoders": set(), "protocol": set(), "seeds": set(),
                                  "git_commit": set()}
    for name in SUITES.names():
        suite = SUITES.get(name)
        if tracker.experiment_id(name, create=False) is None:
            continue
        protocols = [p for p in ("clean", "as-released") if load_records(workdir, name, protocol=p)]
        if suite.kind == "sweep":
            protocols = ["clean"]
        for protocol in protocols:
            written = build_suite_report(name, workdir, protocol=protocol, fmt=fmt, allow_shrink=allow_shrink)
            paths += written
            entries.append(IndexEntry(f"{suite.title} ({protocol})",
                                      [p for p in written if p.suffix in (".md", ".tex", ".csv", ".png", ".pdf")
                                       and "curves" not in p.parts],
                                      suite.description.strip()))
        for rec in load_records(workdir, name):
            provenance["data"].add(f"{rec.dataset_name} ({rec.data_source})")
            provenance["encoders"].add(rec.tags.get("encoders") or
                                       f"text {rec.tags.get('encoder.text', '?')}, image {rec.tags.get('encoder.image', '?')}")
            provenance["protocol"].add(rec.protocol)
            provenance["seeds"].add(rec.seed)
            provenance["git_commit"].add(rec.tags.get("git_commit", "?"))
    index = write_index(workdir / "reports", entries,
                        {k: ", ".join(map(str, sorted(v))) for k, v in provenance.items()})
    return [*paths, index]
