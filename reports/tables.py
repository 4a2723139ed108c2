"""Table builders: stored cells (``CellRecord``) in, a renderer-neutral :class:`TableData` out.

Why separate from rendering: a table is decided once (which numbers, which intervals, which
comparisons, which footnotes) and then written as Markdown, LaTeX and CSV by :mod:`reports.render`,
so the three never disagree. Every number comes from the records' stored metrics and per-item test
predictions, never from a training process, so a table can be rebuilt or re-tested at any time.

What each reproduced cell carries (ARCHITECTURE "Every table shows ..."): mean ± std over seeds,
the 95% percentile-bootstrap interval over test items (paired across seeds), the paper's value where
it has one, the difference (reproduced mean − paper), and the verdict ("reproduced" when the paper's
value lies inside the interval, "below"/"above" otherwise). Rows the suite did not run but the paper
reports show the paper's value and "not reproduced"; cells of an unavailable dataset say why; failed
runs show their error instead of silently vanishing.

Record conventions the builders rely on
---------------------------------------
* ``record.row`` and ``record.dataset`` select the cell; one record per seed (a repeated seed is an
  error naming both run ids).
* ``record.predictions`` has columns item_id, y_true, y_pred; all seeds of a cell, and both sides of
  a comparison, must cover the same item ids (aligned by sorting on item_id).
* Provenance for the header comes from ``record.tags``: "git_commit" (or "mlflow.source.git.commit")
  and "encoders" (or "encoder.text" + "encoder.image", as benchmark.runner tags cells; or
  "text_encoder" + "image_encoder"); anything absent is printed "not recorded".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmark.metrics import classification_metrics
from reports.records import CellRecord
from reports.reference import DifferenceClaim
from reports.stats import (aggregate_over_seeds, holm, mcnemar_test, paired_bootstrap_cis,
                           paired_bootstrap_diff_ci, reference_verdict, significance_mark)

__all__ = ["Cell", "TableRow", "TableData", "PredictionMatrix", "prediction_matrix", "provenance_lines",
           "metric_table", "difference_table", "mcnemar_table", "protocol_gap_table"]

ReferenceFn = Callable[[str, str, str], "float | None"]


# ---------------------------------------------------------------------------------------------
# the table model


@dataclass
class Cell:
    """One displayed cell. ``text`` may hold several lines ("\\n"); ``values`` are its tidy fields for CSV
    (a cell with empty ``values`` contributes no CSV line)."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableRow:
    label: str
    cells: list[Cell]


@dataclass
class TableData:
    """A table as decided, before rendering.

    ``header`` lines state data source, encoders, protocol, seeds and git commit; ``columns`` are the
    headings after the row-label column (headed ``row_header``); ``name`` is a file-system slug.
    """

    title: str
    header: list[str]
    columns: list[str]
    rows: list[TableRow]
    footnotes: list[str] = field(default_factory=list)
    row_header: str = "row"
    name: str = "table"

    def __post_init__(self) -> None:
        for r in self.rows:
            if len(r.cells) != len(self.columns):
                raise ValueError(f"table {self.title!r}: row {r.label!r} has {len(r.cells)} cells for "
                                 f"{len(self.columns)} columns")


# ---------------------------------------------------------------------------------------------
# selecting and aligning records


@dataclass(frozen=True)
class PredictionMatrix:
    """The predictions of one cell's seeds aligned on sorted item ids."""

    item_ids: np.ndarray  # (n,)
    y_true: np.ndarray  # (n,)
    y_pred: np.ndarray  # (n_seeds, n)
    seeds: tuple[int, ...]


def _label(rec: CellRecord) -> str:
    return f"{rec.row!r} on {rec.dataset!r} seed {rec.seed} (run {rec.run_id or '?'})"


def prediction_matrix(records: Sequence[CellRecord]) -> PredictionMatrix:
    """Stack the seeds' predictions of one cell; every seed must cover the same items with the same labels."""
    if not records:
        raise ValueError("no records to stack")
    recs = sorted(records, key=lambda r: r.seed)
    ids0 = y0 = None
    preds = []
    for rec in recs:
        df = rec.predictions
        missing = {"item_id", "y_true", "y_pred"} - set(df.columns)
        if missing:
            raise ValueError(f"{_label(rec)}: predictions lack columns {sorted(missing)}")
        if df["item_id"].duplicated().any():
            raise ValueError(f"{_label(rec)}: predictions repeat item ids, e.g. "
                             f"{df.loc[df['item_id'].duplicated(), 'item_id'].iloc[0]!r}")
        df = df.sort_values("item_id", kind="mergesort")
        ids = df["item_id"].astype(str).to_numpy()
        y = df["y_true"].to_numpy(dtype=int)
        if ids0 is None:
            ids0, y0 = ids, y
        else:
            if ids.shape != ids0.shape or not np.array_equal(ids, ids0):
                raise ValueError(f"{_label(rec)} was scored on other test items than seed {recs[0].seed}; "
                                 "all seeds of a cell must share one test split")
            if not np.array_equal(y, y0):
                raise ValueError(f"{_label(rec)}: y_true differs from seed {recs[0].seed} on the same items")
        preds.append(df["y_pred"].to_numpy(dtype=int))
    return PredictionMatrix(ids0, y0, np.vstack(preds), tuple(r.seed for r in recs))


def _same_items(a: PredictionMatrix, b: PredictionMatrix, what: str) -> None:
    if a.item_ids.shape != b.item_ids.shape or not np.array_equal(a.item_ids, b.item_ids):
        raise ValueError(f"{what}: the two sides were scored on different test items")
    if not np.array_equal(a.y_true, b.y_true):
        raise ValueError(f"{what}: the two sides disagree on y_true for the same items")


def _split(records: Iterable[CellRecord], dataset: str, row: str) -> tuple[list[CellRecord], list[CellRecord]]:
    """(finished, failed) records of one cell, each sorted by seed; a repeated finished seed is an error."""
    fin, fail = [], []
    for r in records:
        if r.dataset == dataset and r.row == row:
            (fin if r.status == "FINISHED" else fail).append(r)
    fin.sort(key=lambda r: r.seed)
    fail.sort(key=lambda r: r.seed)
    seen: dict[int, CellRecord] = {}
    for r in fin:
        if r.seed in seen:
            raise ValueError(f"{row!r} on {dataset!r}: seed {r.seed} stored twice (runs {seen[r.seed].run_id!r} "
                             f"and {r.run_id!r}); delete one run or filter the records")
        seen[r.seed] = r
    return fin, fail


def _metric_values(recs: Sequence[CellRecord], metric: str) -> list[float]:
    out = []
    for r in recs:
        if metric in r.metrics and r.metrics[metric] is not None:
            out.append(float(r.metrics[metric]))
        else:  # re-score from the stored predictions
            out.append(classification_metrics(r.predictions["y_true"], r.predictions["y_pred"])[metric])
    return out


# ---------------------------------------------------------------------------------------------
# formatting


def _f(x: float | None, digits: int = 3, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _p(p: float) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def _mean_std(mean: float, std: float, n: int, digits: int = 3) -> str:
    if n == 1:
        return f"{_f(mean, digits)} (one seed, no std)"
    return f"{_f(mean, digits)} ± {_f(std, digits)}"


def _failed_text(fail: Sequence[CellRecord]) -> str:
    errs = sorted({(r.error or "no error message stored").strip().splitlines()[0] for r in fail})
    return "failed: " + "; ".join(errs)


def _tag(rec: CellRecord, *keys: str) -> str | None:
    for k in keys:
        v = rec.tags.get(k) or (rec.params.get(k) if isinstance(rec.params.get(k), str) else None)
        if v:
            return str(v)
    return None


def provenance_lines(records: Sequence[CellRecord], protocol: str | None = None,
                     intervals: str | None = None) -> list[str]:
    """Header lines: data source, encoders, protocol, seeds, git commit (from the records' fields and tags)."""
    data = sorted({f"{r.dataset} = {r.dataset_name} ({r.data_source})" for r in records})
    enc = set()
    for r in records:
        e = _tag(r, "encoders")
        if e is None:
            t, i = _tag(r, "encoder.text", "text_encoder"), _tag(r, "encoder.image", "image_encoder")
            e = f"text {t}, image {i}" if (t or i) else None
        if e:
            enc.add(e)
    commits = sorted({c for r in records if (c := _tag(r, "git_commit", "mlflow.source.git.commit"))})
    protocols = sorted({r.protocol for r in records})
    seeds = sorted({r.seed for r in records})
    lines = [
        "Data: " + ("; ".join(data) if data else "no stored runs"),
        "Encoders: " + ("; ".join(sorted(enc)) if enc else "not recorded"),
        "Protocol: " + (protocol or (", ".join(protocols) if protocols else "n/a")),
        "Seeds: " + (", ".join(map(str, seeds)) + f" (n = {len(seeds)})" if seeds else "none"),
        "Git commit: " + (", ".join(commits) if commits else "not recorded"),
    ]
    if intervals:
        lines.append(intervals)
    return lines


def _interval_line(n_boot: int, seed: int, alpha: float) -> str:
    return (f"Intervals: {100 * (1 - alpha):.0f}% percentile bootstrap over test items ({n_boot} resamples, "
            f"seed {seed}); the same items are resampled for every seed and the metric averaged over seeds")


def _single_protocol(records: Sequence[CellRecord], what: str) -> str | None:
    protocols = sorted({r.protocol for r in records})
    if len(protocols) > 1:
        raise ValueError(f"{what}: records mix protocols {protocols}; a table states one protocol "
                         "(use protocol_gap_table to compare them)")
    return protocols[0] if protocols else None


# ---------------------------------------------------------------------------------------------
# metric table (COOLANT Tables 1 and 2; NovEmoFake Tables 4-6)


def metric_table(records: Sequence[CellRecord], rows: Sequence[str], datasets: Sequence[str],
                 metrics: Sequence[str], reference: ReferenceFn | None = None,
                 reference_row: str | None = None, missing: dict[tuple[str, str], str] | None = None, *,
                 paper_only: Iterable[str] = (), title: str = "", name: str = "table", n_boot: int = 1000,
                 seed: int = 0, alpha: float = 0.05, combine: str = "majority") -> TableData:
    """Rows × (dataset, metric) cells with mean ± std, CI, paper value, difference, verdict and significance.

    ``reference(dataset, row, metric)`` gives the paper's value or None (e.g.
    ``reports.reference.reference_lookup("coolant_table1")``). ``reference_row`` (e.g. "COOLANT") is
    compared with every other row by McNemar on the per-item predictions (seeds combined per item by
    ``combine``), Holm-corrected across all of this table's comparisons; cells are marked ``*``
    (Holm p < 0.05) or ``**`` (< 0.01), and a column per dataset shows the test. ``missing`` maps
    (dataset, row) — or (dataset, "*") for a whole dataset — to the reason it was not run.
    ``paper_only`` rows have no implementation (they come from the paper's table): a cell of theirs
    without a paper value says so instead of "not run".
    """
    if not rows or not datasets or not metrics:
        raise ValueError("metric_table needs at least one row, dataset and metric")
    if reference_row is not None and reference_row not in rows:
        raise ValueError(f"reference_row {reference_row!r} is not among the rows {list(rows)}")
    missing = dict(missing or {})
    paper_only = set(paper_only)
    relevant = [r for r in records if r.row in rows and r.dataset in datasets]
    protocol = _single_protocol(relevant, title or name)

    columns = [f"{d}: {m}" for d in datasets for m in metrics]
    if reference_row is not None:
        columns += [f"{d}: McNemar vs {reference_row}" for d in datasets]

    # -- significance vs the reference row, Holm across the whole table --------------------------
    mc: dict[tuple[str, str], Any] = {}  # (dataset, row) -> McNemarResult | str (why not)
    matrices: dict[tuple[str, str], PredictionMatrix | str] = {}
    for d in datasets:
        for row in rows:
            fin, _ = _split(relevant, d, row)
            if fin:
                try:
                    matrices[(d, row)] = prediction_matrix(fin)
                except ValueError as exc:
                    matrices[(d, row)] = str(exc)
    if reference_row is not None:
        for d in datasets:
            ref = matrices.get((d, reference_row))
            for row in rows:
                if row == reference_row or (d, row) not in matrices:
                    continue
                cur = matrices[(d, row)]
                if ref is None:
                    mc[(d, row)] = f"{reference_row} has no finished run on {d}"
                elif isinstance(ref, str) or isinstance(cur, str):
                    mc[(d, row)] = ref if isinstance(ref, str) else cur
                else:
                    try:
                        _same_items(cur, ref, f"{row!r} vs {reference_row!r} on {d!r}")
                        mc[(d, row)] = mcnemar_test(cur.y_true, ref.y_pred, cur.y_pred, combine=combine)
                    except ValueError as exc:
                        mc[(d, row)] = str(exc)
    tested = [k for k, v in mc.items() if not isinstance(v, str)]
    adjusted = dict(zip(tested, holm([mc[k].p_value for k in tested]))) if tested else {}

    footnotes: list[str] = []
    out_rows: list[TableRow] = []
    for row in rows:
        cells: list[Cell] = []
        for d in datasets:
            fin, fail = _split(relevant, d, row)
            reason = missing.get((d, row), missing.get((d, "*")))
            mark = significance_mark(adjusted.get((d, row)))
            if fail and fin:
                footnotes.append(f"{row} on {d}: seed(s) {', '.join(str(r.seed) for r in fail)} "
                                 f"{_failed_text(fail)}; the cell uses the {len(fin)} finished seed(s).")
            mat = matrices.get((d, row))
            cis: dict[str, Any] = {}
            if fin:
                if isinstance(mat, str):
                    footnotes.append(f"{row} on {d}: no interval — {mat}")
                else:
                    res = paired_bootstrap_cis(mat.y_true, mat.y_pred, list(metrics), n_boot=n_boot,
                                               seed=seed, alpha=alpha)
                    cis = dict(zip(metrics, res))
            for m in metrics:
                paper = reference(d, row, m) if reference is not None else None
                base = {"dataset": d, "metric": m, "paper": paper}
                if fin:
                    mean, std = aggregate_over_seeds(_metric_values(fin, m))
                    ci = cis.get(m)
                    lines = [f"{_mean_std(mean, std, len(fin))}{(' ' + mark) if mark else ''}"]
                    vals = {**base, "status": "ok", "n_seeds": len(fin), "n_failed": len(fail), "mean": mean,
                            "std": std, "ci_low": ci.low if ci else math.nan,
                            "ci_high": ci.high if ci else math.nan, "mark": mark}
                    if ci is not None:
                        lines.append(f"95% CI [{_f(ci.low)}, {_f(ci.high)}]")
                    if paper is not None:
                        diff = mean - paper
                        verdict = reference_verdict(paper, ci.low, ci.high) if ci else "no interval"
                        lines.append(f"paper {_f(paper)} (Δ {_f(diff, signed=True)}): {verdict}")
                        vals.update(difference=diff, verdict=verdict)
                    cells.append(Cell("\n".join(lines), vals))
                elif fail:
                    text = _failed_text(fail) + (f"\npaper {_f(paper)}" if paper is not None else "")
                    cells.append(Cell(text, {**base, "status": "failed", "n_failed": len(fail),
                                             "reason": _failed_text(fail)}))
                elif reason is not None:
                    text = f"not available: {reason}" + (f"\npaper {_f(paper)}" if paper is not None else "")
                    cells.append(Cell(text, {**base, "status": "not available", "reason": reason}))
                elif paper is not None:
                    cells.append(Cell(f"paper {_f(paper)}\nnot reproduced", {**base, "status": "not reproduced"}))
                elif row in paper_only:
                    cells.append(Cell("no paper value\nnot reproduced", {**base, "status": "not reproduced"}))
                else:
                    cells.append(Cell("not run", {**base, "status": "not run"}))
        if reference_row is not None:
            for d in datasets:
                cells.append(_mcnemar_cell(row, d, reference_row, mc.get((d, row)), adjusted.get((d, row))))
        out_rows.append(TableRow(row, cells))

    if reference_row is not None:
        footnotes.append(
            f"Significance vs {reference_row}: McNemar on per-item correctness (seeds combined per item by "
            f"{'majority vote' if combine == 'majority' else 'the first seed'}); exact binomial when the "
            f"discordant count b + c < 25, else chi-square with continuity correction; p-values "
            f"Holm-adjusted across the {len(tested)} comparison(s) of this table; * p < 0.05, ** p < 0.01 "
            f"(adjusted). b = {reference_row} right and the row wrong; c = the reverse.")
    if reference is not None:
        footnotes.append("Verdict: 'reproduced' when the paper's value lies inside the 95% interval; "
                         "'below'/'above' when the whole interval lies below/above it. Δ = reproduced mean − paper.")
    header = provenance_lines(relevant, protocol, _interval_line(n_boot, seed, alpha))
    return TableData(title=title or name, header=header, columns=columns, rows=out_rows, footnotes=footnotes, name=name)


def _mcnemar_cell(row: str, d: str, reference_row: str, res: Any, p_adj: float | None) -> Cell:
    if row == reference_row:
        return Cell("reference", {})
    if res is None:
        return Cell("—", {})
    if isinstance(res, str):
        return Cell(f"not tested: {res}", {"dataset": d, "metric": "mcnemar", "status": "not tested", "reason": res})
    mark = significance_mark(p_adj)
    text = (f"p = {_p(res.p_value)}, Holm {_p(p_adj)}{(' ' + mark) if mark else ''}\n"
            f"b = {res.b}, c = {res.c}; {res.method.split(' (')[0]}")
    return Cell(text, {"dataset": d, "metric": "mcnemar", "status": "ok", "vs": reference_row, "b": res.b,
                       "c": res.c, "statistic": res.statistic, "p_value": res.p_value, "p_holm": p_adj,
                       "method": res.method, "mark": mark})


# ---------------------------------------------------------------------------------------------
# stated differences (NovEmoFake text)


def difference_table(records: Sequence[CellRecord], claims: Sequence[DifferenceClaim], *,
                     title: str = "Differences stated in the paper vs measured", name: str = "differences",
                     n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> TableData:
    """Each stated difference (metric(row_a) − metric(row_b), in points) beside the measured one with a CI.

    Measured = mean over row_a's seeds − mean over row_b's seeds, ×100; the interval is the paired
    bootstrap of that difference over test items (both rows must share the test items).
    """
    columns = ["dataset", "metric", "stated (points)", "measured (points)", "95% CI (points)", "verdict", "claim"]
    relevant = [r for r in records if any(r.dataset == c.dataset and r.row in (c.row_a, c.row_b) for c in claims)]
    protocol = _single_protocol(relevant, title)
    rows: list[TableRow] = []
    for c in claims:
        fa, xa = _split(relevant, c.dataset, c.row_a)
        fb, xb = _split(relevant, c.dataset, c.row_b)
        base = {"dataset": c.dataset, "metric": c.metric, "row_a": c.row_a, "row_b": c.row_b, "stated": c.points}
        measured = ci_txt = verdict = "—"
        vals: dict[str, Any] = {**base}
        if not fa or not fb:
            absent = [f"{r} {_failed_text(x) if x else 'not run'}"
                      for r, f, x in ((c.row_a, fa, xa), (c.row_b, fb, xb)) if not f]
            verdict = "not reproduced (" + ", ".join(absent) + ")"
            vals.update(status="not reproduced", reason=verdict)
        else:
            try:
                ma, mb = prediction_matrix(fa), prediction_matrix(fb)
                _same_items(ma, mb, f"{c.label} on {c.dataset}")
            except ValueError as exc:
                verdict = f"not comparable: {exc}"
                vals.update(status="not comparable", reason=str(exc))
            else:
                mean_a, _ = aggregate_over_seeds(_metric_values(fa, c.metric))
                mean_b, _ = aggregate_over_seeds(_metric_values(fb, c.metric))
                diff = 100.0 * (mean_a - mean_b)
                ci = paired_bootstrap_diff_ci(ma.y_true, ma.y_pred, mb.y_pred, c.metric, n_boot=n_boot,
                                              seed=seed, alpha=alpha)
                low, high = 100.0 * ci.low, 100.0 * ci.high
                verdict = reference_verdict(c.points, low, high)
                measured = f"{diff:+.2f} (seeds {len(fa)} / {len(fb)})"
                ci_txt = f"[{low:+.2f}, {high:+.2f}]"
                vals.update(status="ok", measured=diff, ci_low=low, ci_high=high, verdict=verdict,
                            n_seeds_a=len(fa), n_seeds_b=len(fb))
        cells = [Cell(c.dataset), Cell(c.metric), Cell(f"{c.points:+.2f}"), Cell(measured, vals), Cell(ci_txt),
                 Cell(verdict), Cell(c.claim)]
        rows.append(TableRow(c.label, cells))
    foot = ["Measured = mean over seeds of row A − mean over seeds of row B, in percentage points. The interval "
            "resamples test items with replacement, the same items for both rows and all seeds. 'reproduced' when "
            "the stated difference lies inside the interval; 'below'/'above' when the interval lies below/above it."]
    return TableData(title=title, header=provenance_lines(relevant, protocol, _interval_line(n_boot, seed, alpha)),
                     columns=columns, rows=rows, footnotes=foot, row_header="comparison (A − B)", name=name)


# ---------------------------------------------------------------------------------------------
# McNemar table (NovEmoFake Table 7)


def mcnemar_table(records: Sequence[CellRecord], pairs: Sequence[tuple[str, str]], datasets: Sequence[str],
                  threshold: float = 0.01, *, title: str = "McNemar tests between paired configurations",
                  name: str = "table7", combine: str = "majority", paper_claim: str | None = None) -> TableData:
    """One row per (pair, dataset): b, c, statistic, p, method, Holm-adjusted p, and "significant at threshold".

    Significance is judged on the Holm-adjusted p (across every test in this table). ``paper_claim``
    (e.g. "p < 0.01") adds a column quoting what the paper states for every pair.
    """
    columns = ["dataset", "b", "c", "statistic", "p", "method", "Holm p", f"significant at {threshold:g}"]
    if paper_claim is not None:
        columns.append("paper")
    relevant = [r for r in records if r.dataset in datasets and any(r.row in p for p in pairs)]
    protocol = _single_protocol(relevant, title)
    results: list[tuple[str, str, str, Any]] = []
    for a, b in pairs:
        for d in datasets:
            fa, xa = _split(relevant, d, a)
            fb, xb = _split(relevant, d, b)
            if not fa or not fb:
                why = ", ".join(f"{r} {_failed_text(x) if x else 'not run'}"
                                for r, f, x in ((a, fa, xa), (b, fb, xb)) if not f)
                results.append((a, b, d, f"not reproduced ({why})"))
                continue
            try:
                ma, mb = prediction_matrix(fa), prediction_matrix(fb)
                _same_items(ma, mb, f"{a!r} vs {b!r} on {d!r}")
                results.append((a, b, d, mcnemar_test(ma.y_true, ma.y_pred, mb.y_pred, combine=combine)))
            except ValueError as exc:
                results.append((a, b, d, f"not comparable: {exc}"))
    tested = [i for i, r in enumerate(results) if not isinstance(r[3], str)]
    adj = dict(zip(tested, holm([results[i][3].p_value for i in tested]))) if tested else {}
    rows = []
    for i, (a, b, d, res) in enumerate(results):
        if isinstance(res, str):
            cells = [Cell(d, {"row_a": a, "row_b": b, "dataset": d, "status": "not tested", "reason": res})]
            cells += [Cell("—") for _ in range(4)] + [Cell(res), Cell("—"), Cell("—")]
        else:
            sig = bool(adj[i] < threshold)
            vals = {"row_a": a, "row_b": b, "dataset": d, "status": "ok", "b": res.b, "c": res.c,
                    "statistic": res.statistic, "p_value": res.p_value, "method": res.method,
                    "p_holm": adj[i], "threshold": threshold, "significant": sig}
            cells = [Cell(d, vals), Cell(str(res.b)), Cell(str(res.c)), Cell(f"{res.statistic:.3f}"),
                     Cell(_p(res.p_value)), Cell(res.method), Cell(_p(adj[i])), Cell("yes" if sig else "no")]
        if paper_claim is not None:
            cells.append(Cell(paper_claim))
        rows.append(TableRow(f"{a} vs {b}", cells))
    foot = [f"b = items the first configuration classifies correctly and the second wrongly; c = the reverse. "
            f"Seeds combined per item by {'majority vote' if combine == 'majority' else 'the first seed'}. "
            f"Exact binomial test when b + c < 25, else chi-square with continuity correction (as in the "
            f"NovEmoFake code). Holm adjustment across the {len(tested)} test(s) of this table; "
            f"'significant' uses the adjusted p."]
    return TableData(title=title, header=provenance_lines(relevant, protocol), columns=columns, rows=rows,
                     footnotes=foot, row_header="pair", name=name)


# ---------------------------------------------------------------------------------------------
# protocol gap (clean vs as-released)


def protocol_gap_table(clean_records: Sequence[CellRecord], released_records: Sequence[CellRecord],
                       metrics: Sequence[str], *, title: str = "Protocol gap: as-released (best test epoch) vs clean",
                       name: str = "protocol_gap", n_boot: int = 1000, seed: int = 0,
                       alpha: float = 0.05) -> TableData:
    """For every (row, dataset) run under either protocol: clean, as-released, and the gap (released − clean).

    The gap's interval is the paired bootstrap of the difference over test items (both protocols must
    score the same test items). A positive gap is how much selecting the epoch on the test split
    inflates the number.
    """
    for recs, want in ((clean_records, "clean"), (released_records, "as-released")):
        wrong = sorted({r.protocol for r in recs} - {want})
        if wrong:
            raise ValueError(f"protocol_gap_table: records passed as {want!r} have protocol(s) {wrong}")
    keys: list[tuple[str, str]] = []
    for r in [*clean_records, *released_records]:
        if (r.row, r.dataset) not in keys:
            keys.append((r.row, r.dataset))
    rows = []
    for row, d in keys:
        fc, xc = _split(clean_records, d, row)
        fr, xr = _split(released_records, d, row)
        cells = []
        try:
            mats = (prediction_matrix(fc) if fc else None, prediction_matrix(fr) if fr else None)
            if mats[0] is not None and mats[1] is not None:
                _same_items(mats[0], mats[1], f"{row!r} on {d!r} clean vs as-released")
            problem = None
        except ValueError as exc:
            mats, problem = (None, None), str(exc)
        for m in metrics:
            parts, vals = [], {"dataset": d, "metric": m}
            for tag, fin, fail in (("clean", fc, xc), ("as-released", fr, xr)):
                key = "clean" if tag == "clean" else "released"
                if fin:
                    mean, std = aggregate_over_seeds(_metric_values(fin, m))
                    parts.append(f"{tag} {_mean_std(mean, std, len(fin))}")
                    vals.update({f"{key}_mean": mean, f"{key}_std": std, f"{key}_n_seeds": len(fin)})
                else:
                    parts.append(f"{tag}: {_failed_text(fail) if fail else 'not run'}")
            if mats[0] is not None and mats[1] is not None:
                ci = paired_bootstrap_diff_ci(mats[0].y_true, mats[1].y_pred, mats[0].y_pred, m, n_boot=n_boot,
                                              seed=seed, alpha=alpha)
                gap = vals["released_mean"] - vals["clean_mean"]
                parts.append(f"gap {_f(gap, signed=True)} [{_f(ci.low, signed=True)}, {_f(ci.high, signed=True)}]")
                vals.update(gap=gap, gap_ci_low=ci.low, gap_ci_high=ci.high, status="ok")
            else:
                vals["status"] = "incomplete"
                if problem:
                    parts.append(f"gap not computable: {problem}")
                    vals["reason"] = problem
            cells.append(Cell("\n".join(parts), vals))
        rows.append(TableRow(f"{row} [{d}]", cells))
    foot = ["gap = as-released mean − clean mean (positive: selecting the best test epoch inflates the number); "
            "its interval is a paired bootstrap over test items of the seed-averaged difference."]
    everything = [*clean_records, *released_records]
    return TableData(title=title, header=provenance_lines(everything, "clean vs as-released",
                                                         _interval_line(n_boot, seed, alpha)),
                     columns=list(metrics), rows=rows, footnotes=foot, row_header="row [dataset]", name=name)
