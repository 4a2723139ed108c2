"""Table builders: stored cells (``CellRecord``) in, a renderer-neutral :class:`TableData` out.

Why separate from rendering: a table is decided once (which numbers, which intervals, which
comparisons, which footnotes) and then written as Markdown, LaTeX and CSV by :mod:`reports.render`,
so the three never disagree. Every number comes from the records' stored metrics and per-item test
predictions, never from a training process, so a table can be rebuilt or re-tested at any time.

What each reproduced cell carries (ARCHITECTURE "Every table shows ..."): mean ± std over seeds (and
their number), a 95% interval for each of the two named estimands — (a) on this fixed test set, across
training seeds; (b) generalising over test clusters and seeds (:mod:`reports.stats`) — the paper's
value where it has one, the difference (reproduced mean − paper), and the verdict against the paper's
single run (:func:`reports.stats.paper_verdict`: "matches" only by an equivalence test with the suite's
margin, "below"/"above" when the single-run prediction interval excludes the paper's value, else
"inconclusive (±x)"). Each header names the estimands, the cluster unit, the number of clusters, the
design effect and the Holm-adjusted minimum detectable difference per dataset.
Rows the suite did not run but the paper reports show the paper's value and "not reproduced"; cells
of an unavailable dataset say why; failed runs show their error instead of silently vanishing.

Record conventions the builders rely on
---------------------------------------
* ``record.row`` and ``record.dataset`` select the cell; one record per seed (a repeated seed is an
  error naming both run ids).
* ``record.predictions`` has columns item_id, y_true, y_pred (and p_fake, cluster where stored); all
  seeds of a cell, and both sides of a comparison, must cover the same item ids (aligned by sorting on
  item_id). The cluster unit comes from the "cluster_unit" tag; runs without a cluster column fall
  back to unit "item" and the table notes say so.
* Provenance for the header comes from ``record.tags``: "git_commit" (or "mlflow.source.git.commit")
  and "encoders" (or "encoder.text" + "encoder.image", as benchmark.runner tags cells; or
  "text_encoder" + "image_encoder"); anything absent is printed "not recorded".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmark.data.schema import split_title
from benchmark.metrics import classification_metrics, cluster_weighted_metrics, metric_label, split_metric
from reports.records import CellRecord
from reports.reference import DifferenceClaim
from reports.stats import (DEFAULT_MARGIN_POINTS, ESTIMAND_CLUSTERS, ESTIMAND_CROSSED, ESTIMAND_SEEDS, MIN_SEEDS,
                           ClusterSummary, Comparison, Interval, aggregate_over_seeds, claim_verdict,
                           cluster_summary, compare_rows, holm, mcnemar_test, mean_correctness,
                           min_detectable_difference, min_differing_clusters, paper_verdict, row_intervals,
                           significance_mark)

__all__ = ["Cell", "TableRow", "TableData", "PredictionMatrix", "prediction_matrix", "provenance_lines",
           "metric_table", "difference_table", "mcnemar_table", "protocol_gap_table", "module_activity_lines"]

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
    column_labels: list[str] | None = None  # headings as shown (``columns`` stay the CSV keys)

    def __post_init__(self) -> None:
        for r in self.rows:
            if len(r.cells) != len(self.columns):
                raise ValueError(f"table {self.title!r}: row {r.label!r} has {len(r.cells)} cells for "
                                 f"{len(self.columns)} columns")


# ---------------------------------------------------------------------------------------------
# selecting and aligning records


@dataclass(frozen=True)
class PredictionMatrix:
    """The predictions of one cell's seeds aligned on sorted item ids, with each item's cluster."""

    item_ids: np.ndarray  # (n,)
    y_true: np.ndarray  # (n,)
    y_pred: np.ndarray  # (n_seeds, n)
    seeds: tuple[int, ...]
    clusters: np.ndarray | None = None  # (n,) cluster keys; None: every item its own cluster
    cluster_unit: str = "item"
    clusters_stored: bool = False  # False: old runs without a cluster column (fell back to unit "item")
    p_fake: np.ndarray | None = None  # (n_seeds, n) where every seed stored it

    @property
    def n_clusters(self) -> int:
        return len(set(self.clusters.tolist())) if self.clusters is not None else len(self.item_ids)


def design_text(rec: CellRecord) -> str:
    """The evaluation design of a stored cell, for headers and ``table.csv``: the split it was tested on,
    or "K-fold cross-validation by X" for a pooled cross-validation record (``design.fold`` tag)."""
    split = rec.tags.get("split") or ""
    if "design.fold" in rec.tags or "fold_accuracy" in rec.tags:
        k, _, by = split.partition("-fold by ")
        what = f"{k}-fold cross-validation by {by}" if by else f"cross-validation ({split or 'folds not recorded'})"
        return f"{what} (out-of-fold predictions pooled per seed)"
    if not split:
        return "split not recorded"
    title = split_title(split)
    return title if "split" in title else f"{title} split"


def _label(rec: CellRecord) -> str:
    return f"{rec.row!r} on {rec.dataset!r} seed {rec.seed} (run {rec.run_id or '?'})"


def _cluster_unit(rec: CellRecord) -> str | None:
    unit = rec.tags.get("cluster_unit") or rec.params.get("cluster_unit")
    return str(unit) if unit else None


def prediction_matrix(records: Sequence[CellRecord]) -> PredictionMatrix:
    """Stack the seeds' predictions of one cell; every seed must cover the same items with the same labels.

    Clusters come from the predictions' ``cluster`` column and the unit from the ``cluster_unit`` tag
    (or config.json). Runs stored before clusters were recorded fall back to unit "item" (every item
    its own cluster) with ``clusters_stored`` False, which the tables state in a note.
    """
    if not records:
        raise ValueError("no records to stack")
    recs = sorted(records, key=lambda r: r.seed)
    ids0 = y0 = c0 = None
    preds, probs = [], []
    with_clusters = all("cluster" in r.predictions.columns for r in recs)
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
        c = df["cluster"].astype(str).to_numpy() if with_clusters else None
        if ids0 is None:
            ids0, y0, c0 = ids, y, c
        else:
            if ids.shape != ids0.shape or not np.array_equal(ids, ids0):
                raise ValueError(f"{_label(rec)} was scored on other test items than seed {recs[0].seed}; "
                                 "all seeds of a cell must share one test split")
            if not np.array_equal(y, y0):
                raise ValueError(f"{_label(rec)}: y_true differs from seed {recs[0].seed} on the same items")
            if c is not None and not np.array_equal(c, c0):
                raise ValueError(f"{_label(rec)}: cluster keys differ from seed {recs[0].seed} on the same items")
        preds.append(df["y_pred"].to_numpy(dtype=int))
        probs.append(df["p_fake"].to_numpy(dtype=float) if "p_fake" in df.columns else None)
    p_fake = np.vstack(probs) if all(p is not None for p in probs) else None
    if p_fake is not None and not np.isfinite(p_fake).all():
        p_fake = None
    units = sorted({u for r in recs if (u := _cluster_unit(r))})
    unit = ", ".join(units) if with_clusters and units else ("not recorded" if with_clusters else "item")
    return PredictionMatrix(ids0, y0, np.vstack(preds), tuple(r.seed for r in recs),
                            clusters=c0, cluster_unit=unit, clusters_stored=with_clusters, p_fake=p_fake)


def _same_items(a: PredictionMatrix, b: PredictionMatrix, what: str) -> None:
    if a.item_ids.shape != b.item_ids.shape or not np.array_equal(a.item_ids, b.item_ids):
        raise ValueError(f"{what}: the two sides were scored on different test items")
    if not np.array_equal(a.y_true, b.y_true):
        raise ValueError(f"{what}: the two sides disagree on y_true for the same items")


def _pair_clusters(a: PredictionMatrix, b: PredictionMatrix) -> np.ndarray | None:
    """The clusters two rows are compared over: the stored keys (either side's if only one stored them).

    Two sides that stored different keys for the same items (e.g. different cluster units) are not
    comparable: a ValueError says so.
    """
    if a.clusters is None or b.clusters is None:
        return a.clusters if b.clusters is None else b.clusters
    if not np.array_equal(a.clusters, b.clusters):
        raise ValueError(f"the two sides stored different cluster keys for the same items (units "
                         f"{a.cluster_unit!r} and {b.cluster_unit!r}); re-run one of them")
    return a.clusters


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
    """The stored test metric of each seed, re-scored from predictions.csv where a run did not log it
    (e.g. balanced accuracy and ROC-AUC of runs stored before they were logged); the cluster-weighted
    ("@cluster") metrics always from predictions.csv and its ``cluster`` column."""
    out = []
    for r in recs:
        if split_metric(metric)[1]:
            df = r.predictions
            if "cluster" not in df.columns:
                raise ValueError(f"{_label(r)}: predictions.csv has no cluster column, so {metric} cannot be "
                                 "computed (stored before clusters were recorded; re-run the suite)")
            out.append(cluster_weighted_metrics(df["y_true"], df["y_pred"], df["cluster"].astype(str))[metric])
        elif metric in r.metrics and r.metrics[metric] is not None and not math.isnan(float(r.metrics[metric])):
            out.append(float(r.metrics[metric]))
        else:
            df = r.predictions
            p = df["p_fake"] if "p_fake" in df.columns and df["p_fake"].notna().all() else None
            out.append(classification_metrics(df["y_true"], df["y_pred"], p)[metric])
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
    return f"{_f(mean, digits)} ± {_f(std, digits)} ({n} seeds)"


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
                     intervals: Sequence[str] | str | None = None) -> list[str]:
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
        "Seeds: " + (", ".join(map(str, seeds)) + f" (n = {len(seeds)}; each cell states its own count)"
                     if seeds else "none"),
        "Git commit: " + (", ".join(commits) if commits else "not recorded"),
    ]
    if intervals:
        lines += [intervals] if isinstance(intervals, str) else list(intervals)
    return lines


def _estimand_lines(unit: str = "cluster") -> list[str]:
    """The two estimands every table reports, named in its header."""
    return [f"Estimand (a): {ESTIMAND_SEEDS} — per-seed metrics; 95% t interval over seeds; rows compared by "
            f"Welch's t over seeds.",
            f"Estimand (b): {ESTIMAND_CROSSED.replace('clusters', f'clusters ({unit})')} — 95% t interval from the "
            f"CR2 cluster-robust variance (Bell & McCaffrey 2002) plus the seed-wide variance, their interaction "
            f"counted once; t on Bell-McCaffrey df, or on the seeds' df when the seed-wide part is present; rows "
            f"compared by the same t-test. With one seed on a row, (b) covers only the trained models "
            f"('clusters only').",
            "(a) and (b) differ because (b) also counts how the score would move on other test "
            f"{unit}s; the paper's own numbers are (a)-type (one test set). In one table (b) can come out "
            "narrower than (a): its cluster part is estimated from the spread between clusters, right on "
            "average over test sets but noisy in any one (see README, calibration)."]


def _verdict_rule(margin_points: float) -> str:
    return (f"Verdict vs the paper's single run (same test set, estimand (a)): 'matches' when two one-sided "
            f"tests (α = 0.05) put our expected single run within ±{margin_points:g} points of it (margin from "
            f"the suite file); 'below'/'above' when the 95% single-run prediction interval mean ± "
            f"t(S−1)·s·√(1 + 1/S) excludes it; otherwise 'inconclusive (±half-width of that interval)'. "
            f"The paper may report its best run, which favours 'below'.")


def _single_protocol(records: Sequence[CellRecord], what: str) -> str | None:
    protocols = sorted({r.protocol for r in records})
    if len(protocols) > 1:
        raise ValueError(f"{what}: records mix protocols {protocols}; a table states one protocol "
                         "(use protocol_gap_table to compare them)")
    return protocols[0] if protocols else None


@dataclass(frozen=True)
class DatasetClusters:
    """What one dataset's test set can tell: its clusters, design effect and detectable differences."""

    dataset: str
    unit: str
    stored: bool
    summary: ClusterSummary
    sizes: np.ndarray
    n_comparisons: int = 1  # Holm family of this table
    mdd_single: float = math.nan  # one row vs a fixed value, estimand (b) (median over rows)
    mdd_crossed: float = math.nan  # between two rows, estimand (b) (median over this table's pairs)
    mdd_seeds: float = math.nan  # between two rows, estimand (a)
    mdd_single_cluster: float = math.nan  # the same for accuracy@cluster (clusters weighted equally)
    mdd_crossed_cluster: float = math.nan

    def line(self) -> str:
        s = self.summary
        kish = 1.0 / float(np.sum((self.sizes / self.sizes.sum()) ** 2)) if self.sizes.size else math.nan
        txt = (f"Clusters ({self.dataset}): unit {self.unit}, {s.n_clusters} clusters over {s.n_items} test items "
               f"(largest {100 * s.largest_share:.1f}%); design effect {_f(s.design_effect, 2)}, effective n "
               f"{_f(s.effective_n, 0)}; Kish effective clusters {_f(kish, 1)} item-weighted, {s.n_clusters} "
               f"cluster-weighted. Minimum accuracy difference detectable at 80% power (two-sided, α = 0.05 "
               f"Holm-adjusted over {self.n_comparisons} comparison(s), from each test's own SE and df): ")
        parts = []
        if np.isfinite(self.mdd_crossed):
            parts.append(f"±{_f(self.mdd_crossed)} between two rows (b)")
        if np.isfinite(self.mdd_seeds):
            parts.append(f"±{_f(self.mdd_seeds)} between two rows (a)")
        if np.isfinite(self.mdd_single):
            parts.append(f"±{_f(self.mdd_single)} for one row vs a fixed value (b)")
        if np.isfinite(self.mdd_crossed_cluster):
            parts.append(f"accuracy@cluster: ±{_f(self.mdd_crossed_cluster)} between two rows (b)")
        if np.isfinite(self.mdd_single_cluster):
            parts.append(f"accuracy@cluster: ±{_f(self.mdd_single_cluster)} for one row vs a fixed value (b)")
        return txt + (", ".join(parts) if parts else "n/a (no interval)") + "."

    def clusters_note(self, alpha: float = 0.05) -> str | None:
        """How many clusters must differ before any comparison can reach Holm significance."""
        k = min_differing_clusters(self.sizes, alpha, self.n_comparisons)
        g = self.sizes.size
        if g < 2:
            return None
        if k is None:
            return (f"{self.dataset}: with {g} {self.unit} clusters no comparison can reach Holm significance "
                    f"(α = {alpha:g} over {self.n_comparisons}) however many clusters differ.")
        return (f"{self.dataset}: a comparison can reach Holm significance (α = {alpha:g} over "
                f"{self.n_comparisons} comparison(s)) only if at least about {k} of the {g} {self.unit} clusters "
                f"differ (best case: whole clusters flipping the same way, every seed agreeing; greedy search); "
                f"a non-significant difference says little when fewer differ.")

    def fallback_note(self) -> str | None:
        if self.stored:
            return None
        return (f"{self.dataset}: the stored runs have no cluster column (stored before clusters were recorded), "
                f"so the statistics fall back to unit 'item' — every item its own cluster, i.e. independent items; "
                f"intervals and tests may be too optimistic. Re-run the suite to store the clusters.")


def dataset_clusters(dataset: str, mats: Sequence[PredictionMatrix], comparisons: Sequence[Comparison] = (),
                     rows: Sequence[Interval] = (), n_comparisons: int = 1, alpha: float = 0.05,
                     power: float = 0.8, *, comparisons_by_cluster: Sequence[Comparison] = (),
                     rows_by_cluster: Sequence[Interval] = ()) -> DatasetClusters:
    """Cluster summary of one dataset from its rows' matrices (design effect of per-item correctness
    averaged over every row and seed) and minimum detectable differences from the table's own tests:
    medians over this dataset's comparisons (estimands (a) and (b)) and rows (vs a fixed value)."""
    ref = mats[0]
    correct = np.mean([mean_correctness(m.y_true, m.y_pred) for m in mats], axis=0)
    summary = cluster_summary(correct, ref.clusters)
    m = max(1, n_comparisons)

    def med(ivs: Iterable[Interval | None], family: int) -> float:
        vals = [min_detectable_difference(iv.se, alpha, power, iv.df, family) for iv in ivs
                if iv is not None and np.isfinite(iv.se)]
        return float(np.median(vals)) if vals else math.nan

    sizes = np.bincount(np.unique(ref.clusters.astype(str), return_inverse=True)[1].ravel()) \
        if ref.clusters is not None else np.ones(len(ref.item_ids), dtype=int)
    units = sorted({mm.cluster_unit for mm in mats})
    return DatasetClusters(dataset, ", ".join(units), all(mm.clusters_stored for mm in mats), summary, sizes, m,
                           med(rows, 1), med([c.crossed for c in comparisons], m),
                           med([c.seeds for c in comparisons], m), med(rows_by_cluster, 1),
                           med([c.crossed for c in comparisons_by_cluster], max(1, len(comparisons_by_cluster))))


def _seed_warning(pairs: Sequence[tuple[str, int, int]]) -> str | None:
    """A footnote naming comparisons whose rows have fewer than MIN_SEEDS seeds."""
    few = [f"{what} ({a} / {b} seeds)" for what, a, b in pairs if min(a, b) < MIN_SEEDS]
    if not few:
        return None
    return (f"Warning: {len(few)} comparison(s) rest on fewer than {MIN_SEEDS} seeds per row, so the seed "
            f"lottery is poorly sampled: {'; '.join(few[:8])}{' ...' if len(few) > 8 else ''}.")


# ---------------------------------------------------------------------------------------------
# metric table (COOLANT Tables 1 and 2; NovEmoFake Tables 4-6)


def _bounds(iv: Interval, signed: bool) -> tuple[float, float]:
    """The interval clipped to the range the quantity can take: [0, 1] for a metric, [−1, 1] for a difference
    (t intervals over few seeds can reach past it; clipping keeps every possible true value inside)."""
    lo = -1.0 if signed else 0.0
    return max(lo, iv.low), min(1.0, iv.high)


def _interval_text(tag: str, iv: Interval | None, signed: bool = False) -> str:
    if iv is None:
        return f"{tag} n/a (one seed)"
    only = " clusters only" if iv.estimand == ESTIMAND_CLUSTERS else ""
    low, high = _bounds(iv, signed)
    return f"{tag}{only} [{_f(low, signed=signed)}, {_f(high, signed=signed)}]"


def _interval_values(prefix: str, iv: Interval | None, signed: bool = False) -> dict[str, Any]:
    if iv is None:
        return {f"{prefix}low": math.nan, f"{prefix}high": math.nan}
    low, high = _bounds(iv, signed)
    return {f"{prefix}low": low, f"{prefix}high": high}


def metric_table(records: Sequence[CellRecord], rows: Sequence[str], datasets: Sequence[str],
                 metrics: Sequence[str], reference: ReferenceFn | None = None,
                 reference_row: str | None = None, missing: dict[tuple[str, str], str] | None = None, *,
                 paper_only: Iterable[str] = (), title: str = "", name: str = "table", alpha: float = 0.05,
                 margin_points: float = DEFAULT_MARGIN_POINTS, dataset_labels: dict[str, str] | None = None,
                 running: Iterable[tuple[str, str]] = ()) -> TableData:
    """Rows × (dataset, metric) cells with mean ± std, both estimands' intervals, paper value, difference, verdict.

    ``reference(dataset, row, metric)`` gives the paper's value or None (e.g.
    ``reports.reference.reference_lookup("coolant_table1")``). Intervals: (a) t over seeds and (b) clusters
    x seeds (:func:`reports.stats.row_intervals`). Verdicts against the paper use
    :func:`reports.stats.paper_verdict` with ``margin_points`` (the suite's ``equivalence_margin``).
    ``reference_row`` (e.g. "COOLANT") is compared with every other row on accuracy for both estimands
    (:func:`reports.stats.compare_rows`), Holm-corrected across all of this table's comparisons, per
    estimand; cells are marked ``*`` / ``**`` by estimand (b)'s Holm p (< 0.05 / < 0.01). ``missing`` maps
    (dataset, row) — or (dataset, "*") for a whole dataset — to the reason it was not run. ``paper_only``
    rows have no implementation (they come from the paper's table): a cell of theirs without a paper
    value says so instead of "not run".
    """
    if not rows or not datasets or not metrics:
        raise ValueError("metric_table needs at least one row, dataset and metric")
    if reference_row is not None and reference_row not in rows:
        raise ValueError(f"reference_row {reference_row!r} is not among the rows {list(rows)}")
    missing = dict(missing or {})
    paper_only = set(paper_only)
    margin = margin_points / 100.0
    relevant = [r for r in records if r.row in rows and r.dataset in datasets]
    protocol = _single_protocol(relevant, title or name)

    columns = [f"{d}: {m}" for d in datasets for m in metrics]
    slot = dict(dataset_labels or {})
    column_labels = [f"{slot.get(d, d)} {metric_label(m)}" for d in datasets for m in metrics]
    if reference_row is not None:
        columns += [f"{d}: vs {reference_row} (paired, both estimands)" for d in datasets]
        column_labels += [f"{slot.get(d, d)}: vs {reference_row} (paired, both estimands)" for d in datasets]

    # -- comparisons with the reference row, Holm across the whole table per estimand ------------
    tests: dict[tuple[str, str], Any] = {}  # (dataset, row) -> Comparison | str (why not)
    by_cluster = "accuracy@cluster" in metrics  # then the paired column also tests accuracy@cluster
    tests_c: dict[tuple[str, str], Comparison] = {}
    matrices: dict[tuple[str, str], PredictionMatrix | str] = {}
    seed_pairs: list[tuple[str, int, int]] = []
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
                    tests[(d, row)] = f"{reference_row} has no finished run on {d}"
                elif isinstance(ref, str) or isinstance(cur, str):
                    tests[(d, row)] = ref if isinstance(ref, str) else cur
                else:
                    try:
                        _same_items(cur, ref, f"{row!r} vs {reference_row!r} on {d!r}")
                        tests[(d, row)] = compare_rows(cur.y_true, cur.y_pred, ref.y_pred, "accuracy",
                                                       _pair_clusters(ref, cur), alpha=alpha)
                        if by_cluster and cur.clusters_stored and ref.clusters_stored:
                            tests_c[(d, row)] = compare_rows(cur.y_true, cur.y_pred, ref.y_pred, "accuracy@cluster",
                                                             _pair_clusters(ref, cur), alpha=alpha)
                        seed_pairs.append((f"{row} vs {reference_row} on {d}", ref.y_pred.shape[0],
                                           cur.y_pred.shape[0]))
                    except ValueError as exc:
                        tests[(d, row)] = str(exc)
    tested = [k for k, v in tests.items() if not isinstance(v, str)]
    adj_b = dict(zip(tested, holm([tests[k].crossed.p_value for k in tested]))) if tested else {}
    with_a = [k for k in tested if tests[k].seeds is not None]
    adj_a = dict(zip(with_a, holm([tests[k].seeds.p_value for k in with_a]))) if with_a else {}
    adj_c = dict(zip(tests_c, holm([c.crossed.p_value for c in tests_c.values()]))) if tests_c else {}

    footnotes: list[str] = []
    out_rows: list[TableRow] = []
    row_ivs: dict[str, list[Interval]] = {d: [] for d in datasets}
    row_ivs_c: dict[str, list[Interval]] = {d: [] for d in datasets}
    for row in rows:
        cells: list[Cell] = []
        for d in datasets:
            fin, fail = _split(relevant, d, row)
            reason = missing.get((d, row), missing.get((d, "*")))
            if fail and fin:
                footnotes.append(f"{row} on {d}: seed(s) {', '.join(str(r.seed) for r in fail)} "
                                 f"{_failed_text(fail)}; the cell uses the {len(fin)} finished seed(s).")
            mat = matrices.get((d, row))
            if fin and isinstance(mat, str):
                footnotes.append(f"{row} on {d}: no interval — {mat}")
            design = design_text(fin[0]) if fin else ""
            for m in metrics:
                paper = reference(d, row, m) if reference is not None else None
                base = {"dataset": d, "metric": m, "paper": paper, **({"design": design} if design else {})}
                mark = significance_mark((adj_c if split_metric(m)[1] else adj_b).get((d, row)))
                try:
                    values = _metric_values(fin, m) if fin else []
                except ValueError as exc:  # a cluster-weighted metric of runs without a cluster column
                    cells.append(Cell(f"n/a: {exc}", {**base, "status": "not available", "reason": str(exc)}))
                    continue
                if fin:
                    mean, std = aggregate_over_seeds(values)
                    iv_a = iv_b = None
                    if isinstance(mat, PredictionMatrix) and (m != "roc_auc" or mat.p_fake is not None):
                        try:
                            iv_a, iv_b = row_intervals(mat.y_true, mat.y_pred, m, mat.clusters,
                                                       p_fake_by_seed=mat.p_fake if m == "roc_auc" else None,
                                                       seed_values=values, alpha=alpha)
                        except ValueError as exc:  # e.g. ROC-AUC on a test split with one class, one cluster
                            footnotes.append(f"{row} on {d}, {m}: no interval — {exc}")
                        if m in ("accuracy", "accuracy@cluster") and iv_b is not None:
                            (row_ivs if m == "accuracy" else row_ivs_c)[d].append(iv_b)
                    lines = [f"{_mean_std(mean, std, len(fin))}{(' ' + mark) if mark else ''}"]
                    vals = {**base, "status": "ok",
                            "cluster_unit": mat.cluster_unit if isinstance(mat, PredictionMatrix) else "",
                            "n_clusters": iv_b.n_clusters if iv_b else math.nan, "n_seeds": len(fin),
                            "n_failed": len(fail), "mean": mean, "std": std, "mark": mark,
                            "estimand_b": iv_b.estimand if iv_b else "",
                            **_interval_values("seeds_ci_", iv_a), **_interval_values("ci_", iv_b)}
                    if iv_b is not None:
                        lines.append(f"{_interval_text('(a)', iv_a)} {_interval_text('(b)', iv_b)}")
                    if paper is not None:
                        diff = mean - paper
                        pv = paper_verdict(values, paper, margin, alpha)
                        pi = (f" [one run: {_f(pv.pi_low)}-{_f(pv.pi_high)}]" if np.isfinite(pv.pi_low) else "")
                        lines.append(f"paper {_f(paper)} (Δ {_f(diff, signed=True)}): {pv.verdict}{pi}")
                        vals.update(difference=diff, verdict=pv.verdict, pi_low=pv.pi_low, pi_high=pv.pi_high,
                                    p_tost=pv.p_tost, margin=margin)
                    else:
                        vals["verdict"] = "no paper value"
                    cells.append(Cell("\n".join(lines), vals))
                elif fail:
                    text = _failed_text(fail) + (f"\npaper {_f(paper)}" if paper is not None else "")
                    cells.append(Cell(text, {**base, "status": "failed", "n_failed": len(fail),
                                             "reason": _failed_text(fail)}))
                elif reason is not None:
                    text = f"not available: {reason}" + (f"\npaper {_f(paper)}" if paper is not None else "")
                    cells.append(Cell(text, {**base, "status": "not available", "reason": reason}))
                elif row in paper_only:  # the paper's row, without an implementation here
                    text = f"paper {_f(paper)}\nnot reproduced" if paper is not None else "no paper value\nnot reproduced"
                    cells.append(Cell(text, {**base, "status": "not reproduced"}))
                elif (d, row) in running:
                    cells.append(Cell("running" + (f"\npaper {_f(paper)}" if paper is not None else ""),
                                      {**base, "status": "running"}))
                else:  # implemented, nothing stored yet: not a failed reproduction
                    cells.append(Cell("not run yet" + (f"\npaper {_f(paper)}" if paper is not None else ""),
                                      {**base, "status": "not run"}))
        if reference_row is not None:
            for d in datasets:
                cells.append(_paired_cell(row, d, reference_row, tests.get((d, row)), adj_a.get((d, row)),
                                          adj_b.get((d, row)), tests_c.get((d, row)), adj_c.get((d, row))))
        out_rows.append(TableRow(row, cells))

    # -- what each dataset's test set can tell ----------------------------------------------------
    clusters_by_d: dict[str, DatasetClusters] = {}
    for d in datasets:
        mats = [mm for (dd, _), mm in matrices.items() if dd == d and not isinstance(mm, str)]
        if mats:
            comps = [tests[k] for k in tested if k[0] == d]
            clusters_by_d[d] = dataset_clusters(d, mats, comps, row_ivs[d], max(1, len(tested)), alpha,
                                                comparisons_by_cluster=[c for k, c in tests_c.items() if k[0] == d],
                                                rows_by_cluster=row_ivs_c[d])

    if reference_row is not None:
        footnotes.append(
            f"Paired column: Δacc = row − {reference_row} (seed means); (a) Welch's t over seeds, (b) the crossed "
            f"clusters x seeds t-test of the same difference; p-values Holm-adjusted per estimand across the "
            f"{len(tested)} comparison(s) of this table; * / ** = (b) Holm p < 0.05 / < 0.01. 'k of G clusters "
            f"differ' counts clusters on which the rows' seed-averaged correctness differs."
            + (f" '@cluster' lines: the same tests of accuracy@cluster (Holm across its {len(tests_c)} "
               f"comparison(s)); * / ** on @cluster cells follow them." if tests_c else ""))
        warn = _seed_warning(seed_pairs)
        if warn:
            footnotes.append(warn)
        footnotes += [n for c in clusters_by_d.values() if (n := c.clusters_note(alpha))]
    if any(split_metric(m)[1] for m in metrics):
        footnotes.append(
            "Two weightings: columns without '@cluster' weight every test item equally (the papers' metrics: "
            "'accuracy on a new post'); '@cluster' columns weight every cluster (the unit named in the header: "
            "image, event or publisher) equally, each item by 1 / its cluster's size ('accuracy on a new image'), "
            "which counts independent evidence. Their intervals treat the clusters' means as equal units "
            "(Bell-McCaffrey df = clusters − 1); the papers report no @cluster values.")
    if reference is not None:
        footnotes.append(_verdict_rule(margin_points) + " Δ = reproduced mean − paper.")
    footnotes += [n for c in clusters_by_d.values() if (n := c.fallback_note())]
    units = sorted({c.unit for c in clusters_by_d.values()}) or ["cluster"]
    header = provenance_lines(relevant, protocol, _estimand_lines(" / ".join(units)))
    header += [c.line() for c in clusters_by_d.values()]
    return TableData(title=title or name, header=header, columns=columns, rows=out_rows, footnotes=footnotes, name=name,
                     column_labels=column_labels)


def _paired_cell(row: str, d: str, reference_row: str, res: Any, p_adj_a: float | None,
                 p_adj_b: float | None, res_c: Comparison | None = None, p_adj_c: float | None = None) -> Cell:
    if row == reference_row:
        return Cell("reference", {})
    if res is None:
        return Cell("—", {})
    if isinstance(res, str):
        return Cell(f"not tested: {res}", {"dataset": d, "metric": "paired_test", "status": "not tested",
                                           "reason": res})
    mark = significance_mark(p_adj_b)
    a, b = res.seeds, res.crossed
    line_a = (f"{_interval_text('(a)', a, True)} p = {_p(a.p_value)}, Holm {_p(p_adj_a)}" if a is not None
              else "(a) n/a (one seed)")
    line_b = f"{_interval_text('(b)', b, True)} p = {_p(b.p_value)}, Holm {_p(p_adj_b)}{(' ' + mark) if mark else ''}"
    text = (f"Δacc {_f(res.difference, signed=True)}\n{line_a}\n{line_b}\n"
            f"{res.n_discordant_clusters} of {res.n_clusters} clusters differ")
    extra: dict[str, Any] = {}
    if res_c is not None:
        mark_c = significance_mark(p_adj_c)
        text += (f"\n@cluster: Δacc {_f(res_c.difference, signed=True)} "
                 f"{_interval_text('(b)', res_c.crossed, True)} p = {_p(res_c.crossed.p_value)}, "
                 f"Holm {_p(p_adj_c)}{(' ' + mark_c) if mark_c else ''}")
        extra = {"cluster_difference": res_c.difference, **_interval_values("cluster_ci_", res_c.crossed, True),
                 "cluster_p_value": res_c.crossed.p_value, "cluster_p_holm": p_adj_c, "cluster_mark": mark_c}
    return Cell(text, {"dataset": d, "metric": "paired_test", "status": "ok", "vs": reference_row, **extra,
                       "difference": res.difference, **_interval_values("seeds_ci_", a, True),
                       **_interval_values("ci_", b, True),
                       "p_seeds": a.p_value if a else math.nan, "p_seeds_holm": p_adj_a if a else math.nan,
                       "p_value": b.p_value, "p_holm": p_adj_b, "df": b.df, "estimand_b": b.estimand,
                       "n_clusters": res.n_clusters, "n_discordant_clusters": res.n_discordant_clusters,
                       "method": b.method, "mark": mark})



# ---------------------------------------------------------------------------------------------
# stated differences (NovEmoFake text)


def difference_table(records: Sequence[CellRecord], claims: Sequence[DifferenceClaim], *,
                     title: str = "Differences stated in the paper vs measured", name: str = "differences",
                     alpha: float = 0.05) -> TableData:
    """Each stated difference (metric(row_a) − metric(row_b), in points) beside the measured one, for both estimands.

    Measured = mean over row_a's seeds − mean over row_b's seeds, ×100; intervals: (a) Welch over seeds,
    (b) clusters x seeds (:func:`reports.stats.compare_rows`; both rows must share the test items). The
    verdict (:func:`reports.stats.claim_verdict`) says "reproduced" only when (b)'s interval excludes 0
    on the paper's side.
    """
    columns = ["dataset", "metric", "stated (points)", "measured (points)", "(a) 95% CI (points)",
               "(b) 95% CI (points)", "verdict", "claim"]
    relevant = [r for r in records if any(r.dataset == c.dataset and r.row in (c.row_a, c.row_b) for c in claims)]
    protocol = _single_protocol(relevant, title)
    rows: list[TableRow] = []
    seed_pairs: list[tuple[str, int, int]] = []
    fallback: set[str] = set()
    mats_by_d: dict[str, dict[str, PredictionMatrix]] = {}
    comps_by_d: dict[str, list[Comparison]] = {}
    for c in claims:
        fa, xa = _split(relevant, c.dataset, c.row_a)
        fb, xb = _split(relevant, c.dataset, c.row_b)
        base = {"dataset": c.dataset, "metric": c.metric, "row_a": c.row_a, "row_b": c.row_b, "stated": c.points}
        measured = ci_a = ci_b = verdict = "—"
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
                scores = ma.p_fake is not None and mb.p_fake is not None
                if c.metric == "roc_auc" and not scores:
                    raise ValueError("roc_auc needs p_fake stored for every seed of both rows")
            except ValueError as exc:
                verdict = f"not comparable: {exc}"
                vals.update(status="not comparable", reason=str(exc))
            else:
                va, vb = _metric_values(fa, c.metric), _metric_values(fb, c.metric)
                comp = compare_rows(ma.y_true, ma.y_pred, mb.y_pred, c.metric, _pair_clusters(ma, mb),
                                    p_fake_a=ma.p_fake if c.metric == "roc_auc" else None,
                                    p_fake_b=mb.p_fake if c.metric == "roc_auc" else None,
                                    values_a=va, values_b=vb, alpha=alpha)
                diff = 100.0 * comp.difference
                verdict = claim_verdict(c.points / 100.0, comp.crossed, comp.seeds)
                measured = f"{diff:+.2f} (seeds {len(fa)} / {len(fb)})"

                def pts(iv: Interval | None, tag: str) -> str:
                    if iv is None:
                        return "n/a (one seed)"
                    only = " clusters only" if iv.estimand == ESTIMAND_CLUSTERS else ""
                    return f"[{100 * iv.low:+.2f}, {100 * iv.high:+.2f}]{only}"

                ci_a, ci_b = pts(comp.seeds, "a"), pts(comp.crossed, "b")
                vals.update(status="ok", measured=diff, verdict=verdict, cluster_unit=ma.cluster_unit,
                            n_clusters=comp.n_clusters, n_seeds=min(len(fa), len(fb)), n_seeds_a=len(fa),
                            n_seeds_b=len(fb), estimand_b=comp.crossed.estimand,
                            ci_low=100 * comp.crossed.low, ci_high=100 * comp.crossed.high,
                            seeds_ci_low=100 * comp.seeds.low if comp.seeds else math.nan,
                            seeds_ci_high=100 * comp.seeds.high if comp.seeds else math.nan)
                seed_pairs.append((f"{c.label} on {c.dataset}", len(fa), len(fb)))
                mats_by_d.setdefault(c.dataset, {}).update({c.row_a: ma, c.row_b: mb})
                comps_by_d.setdefault(c.dataset, []).append(comp)
                if not (ma.clusters_stored and mb.clusters_stored):
                    fallback.add(c.dataset)
        cells = [Cell(c.dataset), Cell(c.metric), Cell(f"{c.points:+.2f}"), Cell(measured, vals), Cell(ci_a),
                 Cell(ci_b), Cell(verdict), Cell(c.claim)]
        rows.append(TableRow(c.label, cells))
    foot = ["Measured = mean over seeds of row A − mean over seeds of row B, in percentage points. Verdict: "
            "'reproduced' only when interval (b) excludes 0 on the side the paper states; 'reproduced on this test "
            "set only' when only (a) does; 'opposite' when an interval excludes 0 on the other side; otherwise "
            "'not shown (interval includes 0)' — absence of evidence, not evidence of absence; '(smaller/larger than "
            "stated)' when the interval also excludes the stated size."]
    foot += [f"{d}: the stored runs have no cluster column (stored before clusters were recorded); unit 'item' "
             f"(independent items) is used, so the intervals may be too narrow." for d in sorted(fallback)]
    if (warn := _seed_warning(seed_pairs)):
        foot.append(warn)
    units = sorted({m.cluster_unit for ms in mats_by_d.values() for m in ms.values()}) or ["cluster"]
    header = provenance_lines(relevant, protocol, _estimand_lines(" / ".join(units)))
    n_tests = sum(len(v) for v in comps_by_d.values())
    for d, m in mats_by_d.items():
        info = dataset_clusters(d, list(m.values()), comps_by_d.get(d, []), (), max(1, n_tests), alpha)
        header.append(info.line())
    return TableData(title=title, header=header, columns=columns, rows=rows, footnotes=foot,
                     row_header="comparison (A − B)", name=name)



# ---------------------------------------------------------------------------------------------
# McNemar table (NovEmoFake Table 7)


def mcnemar_table(records: Sequence[CellRecord], pairs: Sequence[tuple[str, str]], datasets: Sequence[str],
                  threshold: float = 0.01, *, title: str = "McNemar tests between paired configurations",
                  name: str = "table7", paper_claim: str | None = None, alpha: float = 0.05) -> TableData:
    """One row per (pair, dataset): the paper's item-level McNemar beside the tests of both estimands.

    The item-level McNemar (b, c, statistic, p, Holm p) is what the NovEmoFake paper reported; it
    treats items as independent and is labelled so. Beside it, :func:`reports.stats.compare_rows` on
    accuracy: (a) Welch over seeds and (b) the crossed clusters x seeds t-test, each with its own Holm
    adjustment; "significant at threshold" is judged on (b)'s Holm-adjusted p. ``paper_claim`` (e.g.
    "p < 0.01") adds a column quoting what the paper states for every pair.
    """
    columns = ["dataset", "b", "c", "statistic", "item-level McNemar p (as in the paper)", "method",
               "item-level Holm p", "paired tests: Δacc; (a) over seeds, (b) clusters x seeds: p, Holm p",
               f"significant at {threshold:g} ((b), Holm)"]
    if paper_claim is not None:
        columns.append("paper")
    relevant = [r for r in records if r.dataset in datasets and any(r.row in p for p in pairs)]
    protocol = _single_protocol(relevant, title)
    results: list[tuple[str, str, str, Any]] = []
    mats_by_d: dict[str, dict[str, PredictionMatrix]] = {d: {} for d in datasets}
    comps_by_d: dict[str, list[Comparison]] = {d: [] for d in datasets}
    seed_pairs: list[tuple[str, int, int]] = []
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
                clusters = _pair_clusters(ma, mb)
                item = mcnemar_test(ma.y_true, ma.y_pred, mb.y_pred)
                clustered = compare_rows(ma.y_true, ma.y_pred, mb.y_pred, "accuracy", clusters, alpha=alpha)
                comps_by_d[d].append(clustered)
                mats_by_d[d].update({a: ma, b: mb})
                seed_pairs.append((f"{a} vs {b} on {d}", len(fa), len(fb)))
                results.append((a, b, d, (item, clustered)))
            except ValueError as exc:
                results.append((a, b, d, f"not comparable: {exc}"))
    tested = [i for i, r in enumerate(results) if not isinstance(r[3], str)]
    adj_item = dict(zip(tested, holm([results[i][3][0].p_value for i in tested]))) if tested else {}
    adj_cl = dict(zip(tested, holm([results[i][3][1].crossed.p_value for i in tested]))) if tested else {}
    with_a = [i for i in tested if results[i][3][1].seeds is not None]
    adj_a = dict(zip(with_a, holm([results[i][3][1].seeds.p_value for i in with_a]))) if with_a else {}
    rows = []
    for i, (a, b, d, res) in enumerate(results):
        if isinstance(res, str):
            cells = [Cell(d, {"row_a": a, "row_b": b, "dataset": d, "status": "not tested", "reason": res})]
            cells += [Cell("—") for _ in range(4)] + [Cell(res), Cell("—"), Cell("—"), Cell("—")]
        else:
            item, cl = res
            sig = bool(adj_cl[i] < threshold)
            ma = mats_by_d[d][a]
            vals = {"row_a": a, "row_b": b, "dataset": d, "status": "ok", "b": item.b, "c": item.c,
                    "statistic": item.statistic, "p_value": item.p_value, "method": item.method,
                    "p_holm": adj_item[i], "n_excluded": item.n_excluded,
                    "significant_item_level": bool(adj_item[i] < threshold),
                    "cluster_unit": ma.cluster_unit, "n_clusters": cl.n_clusters,
                    "n_seeds": min(len(ma.seeds), len(mats_by_d[d][b].seeds)), "difference": cl.difference,
                    "p_clustered": cl.crossed.p_value, "p_clustered_holm": adj_cl[i],
                    "estimand_b": cl.crossed.estimand, "clustered_method": cl.crossed.method,
                    "p_seeds": cl.seeds.p_value if cl.seeds else math.nan, "p_seeds_holm": adj_a.get(i, math.nan),
                    "threshold": threshold, "significant": sig,
                    "verdict": "significant" if sig else "not significant"}
            line_a = (f"(a) p = {_p(cl.seeds.p_value)}, Holm {_p(adj_a[i])}" if cl.seeds is not None
                      else "(a) n/a (one seed)")
            only = " (clusters only)" if cl.crossed.estimand == ESTIMAND_CLUSTERS else ""
            cells = [Cell(d, vals), Cell(str(item.b)), Cell(str(item.c)), Cell(f"{item.statistic:.3f}"),
                     Cell(_p(item.p_value)), Cell(item.method), Cell(_p(adj_item[i])),
                     Cell(f"Δacc {_f(cl.difference, signed=True)}; {line_a}\n"
                          f"(b){only} p = {_p(cl.crossed.p_value)}, Holm {_p(adj_cl[i])}; "
                          f"{cl.n_discordant_clusters} of {cl.n_clusters} clusters differ"),
                     Cell("yes" if sig else "no")]
        if paper_claim is not None:
            cells.append(Cell(paper_claim))
        rows.append(TableRow(f"{a} vs {b}", cells))
    foot = ["Item-level McNemar (what the paper used; it assumes independent items): b = items the first "
            "configuration classifies correctly and the second wrongly, c = the reverse; seeds combined per item "
            "by majority vote, items whose seeds tie left out (no tie-break toward any seed); exact binomial test "
            "when b + c < 25, else chi-square with continuity correction (as in the NovEmoFake code); Holm "
            f"across the {len(tested)} test(s).",
            "Paired tests beside it: (a) Welch's t over the seeds' accuracies; (b) (drives 'significant') the "
            "crossed clusters x seeds t-test of the accuracy difference (CR2 cluster part plus the seed-wide part); "
            f"each Holm-adjusted across the {len(tested)} test(s). Δacc = first − second."]
    if (warn := _seed_warning(seed_pairs)):
        foot.append(warn)
    units = sorted({m.cluster_unit for ms in mats_by_d.values() for m in ms.values()}) or ["cluster"]
    header = provenance_lines(relevant, protocol, _estimand_lines(" / ".join(units)))
    for d in datasets:
        mats = list(mats_by_d[d].values())
        if mats:
            info = dataset_clusters(d, mats, comps_by_d[d], (), max(1, len(tested)), alpha)
            header.append(info.line())
            for note in (info.clusters_note(alpha), info.fallback_note()):
                if note:
                    foot.append(note)
    return TableData(title=title, header=header, columns=columns, rows=rows,
                     footnotes=foot, row_header="pair", name=name)


# ---------------------------------------------------------------------------------------------
# protocol gap (clean vs as-released)


def protocol_gap_table(clean_records: Sequence[CellRecord], released_records: Sequence[CellRecord],
                       metrics: Sequence[str], *, title: str = "Protocol gap: as-released (best test epoch) vs clean",
                       name: str = "protocol_gap", alpha: float = 0.05) -> TableData:
    """For every (row, dataset) run under either protocol: clean, as-released, and the gap (released − clean).

    The gap's intervals are those of :func:`reports.stats.compare_rows` for both estimands (both protocols
    must score the same test items). A positive gap is how much selecting the epoch on the test split
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
            if mats[0] is not None and mats[1] is not None and (m != "roc_auc" or (
                    mats[0].p_fake is not None and mats[1].p_fake is not None)):
                comp = compare_rows(mats[0].y_true, mats[1].y_pred, mats[0].y_pred, m,
                                    _pair_clusters(mats[0], mats[1]),
                                    p_fake_a=mats[1].p_fake if m == "roc_auc" else None,
                                    p_fake_b=mats[0].p_fake if m == "roc_auc" else None,
                                    values_a=_metric_values(fr, m), values_b=_metric_values(fc, m), alpha=alpha)
                gap = vals["released_mean"] - vals["clean_mean"]
                parts.append(f"gap {_f(gap, signed=True)} {_interval_text('(a)', comp.seeds, True)} "
                             f"{_interval_text('(b)', comp.crossed, True)}")
                vals.update(gap=gap, gap_ci_low=comp.crossed.low, gap_ci_high=comp.crossed.high,
                            gap_seeds_ci_low=comp.seeds.low if comp.seeds else math.nan,
                            gap_seeds_ci_high=comp.seeds.high if comp.seeds else math.nan, status="ok",
                            cluster_unit=mats[0].cluster_unit, n_clusters=comp.n_clusters)
            else:
                vals["status"] = "incomplete"
                if problem:
                    parts.append(f"gap not computable: {problem}")
                    vals["reason"] = problem
            cells.append(Cell("\n".join(parts), vals))
        rows.append(TableRow(f"{row} [{d}]", cells))
    foot = ["gap = as-released mean − clean mean (positive: selecting the best test epoch inflates the number), "
            "with its (a) and (b) intervals."]
    everything = [*clean_records, *released_records]
    return TableData(title=title, header=provenance_lines(everything, "clean vs as-released", _estimand_lines()),
                     columns=list(metrics), rows=rows, footnotes=foot, row_header="row [dataset]", name=name)


# ---------------------------------------------------------------------------------------------
# module activity beside the rows (issue 25): kept apart from the statistics above


def _activity_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """Weight names grouped by module: "attention_w_image" -> "attention"; "ambiguity" -> "ambiguity"."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split("_w_", 1)[0], []).append(name)
    return groups


def _seed_activity(rec: CellRecord) -> dict[str, tuple[float, float]]:
    """Per module of one cell: (max across-item std over its weights, mean of the first weight) on the test
    items at the selected epoch. A module whose weights form a distribution (attention) varies when any of
    them varies, hence the max."""
    return _activity_of(rec.metrics)


def _fold_activity(rec: CellRecord) -> list[dict[str, tuple[float, float]]]:
    """``_seed_activity`` of each fold model of a pooled cross-validation seed (empty otherwise)."""
    raw = rec.tags.get("fold_activity")
    return [_activity_of(m) for m in json.loads(raw)] if raw else []


def _activity_of(metrics: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    from benchmark.activity import PREFIX, activity_names
    out = {}
    for group, names in _activity_groups(activity_names(metrics)).items():
        stds = [metrics[f"{PREFIX}{n}_std"] for n in names]
        means = [metrics.get(f"{PREFIX}{n}_mean", float("nan")) for n in names]
        out[group] = (max(stds), means[0] if len(names) == 1 else max(means))
    return out


def module_activity_lines(records: Sequence[CellRecord], rows: Sequence[str], datasets: Sequence[str],
                          reference_row: str | None = None) -> list[str]:
    """One footnote per (row, dataset) whose model reports per-item weights: the across-item std of each
    module's weights on the test items (mean over seeds, range), the reference row's beside it, and the
    seeds whose modules collapsed (``benchmark.activity.collapsed``), so a reader sees when a row averages
    a collapsed seed. Cells logged before activity was recorded contribute nothing."""
    from benchmark.activity import COLLAPSE_STD, PINNED_MARGIN, collapsed
    per_cell: dict[tuple[str, str], list[tuple[int, dict[str, tuple[float, float]]]]] = {}
    per_fold: dict[tuple[str, str, int], list[dict[str, tuple[float, float]]]] = {}
    for rec in records:
        if rec.status != "FINISHED":
            continue
        found = _seed_activity(rec)
        if found:
            per_cell.setdefault((rec.row, rec.dataset), []).append((rec.seed, found))
            per_fold[(rec.row, rec.dataset, rec.seed)] = _fold_activity(rec)
    lines = []
    for d in datasets:
        ref = per_cell.get((reference_row, d), []) if reference_row else []
        for row in rows:
            seeds = sorted(per_cell.get((row, d), []))
            if not seeds:
                continue
            parts, flagged = [], []
            for group in seeds[0][1]:
                stds = [act[group][0] for _, act in seeds if group in act]
                text = f"{group} across-item std {float(np.mean(stds)):.3f}"
                if len(stds) > 1:
                    text += f" (seeds {min(stds):.3f}-{max(stds):.3f})"
                ref_stds = [act[group][0] for _, act in ref if group in act]
                if ref_stds and row != reference_row:
                    text += f" (full model {float(np.mean(ref_stds)):.3f})"
                parts.append(text)
            for seed, act in seeds:
                folds = per_fold.get((row, d, seed)) or []
                if folds:  # a cross-validated seed: each fold model is judged on its own held-out items
                    bad = [f"fold {k}: {g} std {s:.3f}, mean {m:.3f}" for k, fold in enumerate(folds)
                           for g, (s, m) in fold.items() if collapsed(m, s)]
                else:
                    bad = [f"{g} std {s:.3f}, mean {m:.3f}" for g, (s, m) in act.items() if collapsed(m, s)]
                if bad:
                    flagged.append(f"seed {seed} ({'; '.join(bad)})")
            line = f"Module activity, {row} on {d}, {len(seeds)} seed(s), test items: {'; '.join(parts)}."
            if flagged:
                line += f" COLLAPSED: {', '.join(flagged)}; the row's mean includes them."
            lines.append(line)
    if lines and any(per_fold.values()):
        lines.append("Module activity of cross-validated rows: the std is the within-model spread pooled over a "
                     "seed's fold models (the root of the item-weighted mean of each fold model's variance on "
                     "its held-out items); collapse is judged per fold model.")
    if lines:
        lines.append(f"Module activity: a module counts as collapsed when its weights' across-item std is below "
                     f"{COLLAPSE_STD} or a weight's mean lies within {PINNED_MARGIN} of 0 or 1 (benchmark/activity.py "
                     f"says why); for the attention the std is the largest over its three weights.")
    return lines
