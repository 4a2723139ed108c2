"""Power planner: what a design can tell before anything is trained (`bench plan`).

Why: on the published MediaEval 2016 test split (44 images) every comparison is "inconclusive" however
many seeds run; a researcher should learn that, and which design (seeds x cross-validation folds)
reaches a wanted precision at what CPU cost, before spending the CPU.

The expected variance is that of the tables' estimand (b) (:func:`reports.stats.crossed_variance`) for
a row's seed-averaged accuracy, under a working model of the clusters' correctness:

* cluster part: V_cl = Σ_g w_g² τ_g², with w_g = n_g / n (item-weighted) or 1 / G (``@cluster``) and
  τ_g² = p(1 − p)·(ρ + (1 − ρ) / n_g), the variance of a cluster's mean correctness when items are
  right with probability p and correlated with intra-cluster correlation ρ (CR2 estimates exactly this
  sum when the τ_g are equal); the seed x cluster interaction is not divided by the seeds (conservative);
* seed part: V_seed = σ_seed² / S, σ_seed the standard deviation of the seed-wide effect;
* a row's 95% half-width is t_{0.975, df}·√(V_cl + V_seed) with the tests' df rule: S − 1 when the
  seed part is present, else Bell-McCaffrey (:func:`reports.stats.bell_mccaffrey_df`);
* a difference between two rows has cluster part r·V_cl (r = 2 for rows whose cluster errors are
  uncorrelated, the upper bound; observed r where stored comparisons exist), seed part 2σ_seed²/S and
  df 2(S − 1); its minimum detectable difference is :func:`reports.stats.min_detectable_difference` at
  Holm's first step over the suite's comparisons.

p, σ_seed, ρ and r come from the stored cells of the work directory where they exist (ρ solved from
each row's observed CR2 cluster part on its own cluster sizes), otherwise from stated assumptions
(ρ as a low-high bound). Pure functions first; :func:`plan_suite` reads data and store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy import stats as _sps

from reports.stats import bell_mccaffrey_df, cluster_sums, crossed_variance, min_detectable_difference, pseudo_values

ASSUMED_ACCURACY = 0.8
ASSUMED_SEED_STD = 0.05
ASSUMED_ICC = (0.3, 0.9)  # tweets of one image nearly always share their prediction: ρ is high
ASSUMED_DIFF_RATIO = 2.0  # cluster part of a difference / of a row: 2 when the rows' errors are uncorrelated
MAX_SEEDS = 30


def weights(sizes, weighting: str) -> np.ndarray:
    sizes = np.asarray(sizes, dtype=float).ravel()
    if weighting == "item":
        return sizes / sizes.sum()
    if weighting == "cluster":
        return np.full(sizes.size, 1.0 / sizes.size)
    raise ValueError(f"weighting must be 'item' or 'cluster', got {weighting!r}")


def kish_effective_clusters(sizes, weighting: str = "item") -> float:
    """Kish's effective number of clusters 1 / Σ w_g² (G for equal weights)."""
    return float(1.0 / np.sum(weights(sizes, weighting) ** 2))


def cluster_variance(sizes, p: float, icc: float, weighting: str = "item") -> float:
    """V_cl = Σ_g w_g² p(1 − p)(ρ + (1 − ρ)/n_g): the variance of the (weighted) mean correctness."""
    sizes = np.asarray(sizes, dtype=float).ravel()
    w = weights(sizes, weighting)
    return float(p * (1 - p) * np.sum(w ** 2 * (icc + (1 - icc) / sizes)))


def fit_icc(v_cluster: float, sizes, p: float, weighting: str = "item") -> float:
    """The ρ for which :func:`cluster_variance` equals an observed cluster part (clipped to [0, 1])."""
    sizes = np.asarray(sizes, dtype=float).ravel()
    w2 = weights(sizes, weighting) ** 2
    a, b = float(np.sum(w2)), float(np.sum(w2 / sizes))
    if p <= 0 or p >= 1 or a == b:
        return math.nan
    return float(min(1.0, max(0.0, (v_cluster / (p * (1 - p)) - b) / (a - b))))


@dataclass(frozen=True)
class Expected:
    """Expected 95% half-width of a row's accuracy and minimum detectable difference between two rows."""

    half_width: float
    mdd: float
    se_row: float
    df_row: float
    se_diff: float
    df_diff: float


def expected_precision(sizes, seeds: int, p: float, icc: float, seed_std: float, weighting: str = "item",
                       diff_ratio: float = ASSUMED_DIFF_RATIO, n_comparisons: int = 1, alpha: float = 0.05,
                       power: float = 0.8) -> Expected:
    """The crossed variance's expectation under the working model (module docstring) and the tests' df."""
    sizes = np.asarray(sizes, dtype=float).ravel()
    v_cl = cluster_variance(sizes, p, icc, weighting)
    bm = bell_mccaffrey_df(sizes if weighting == "item" else np.ones(sizes.size))
    with_seed = seed_std > 0 and seeds >= 2
    v_row = v_cl + (seed_std ** 2 / seeds if with_seed else 0.0)
    df_row = float(seeds - 1) if with_seed else bm
    v_diff = diff_ratio * v_cl + (2 * seed_std ** 2 / seeds if with_seed else 0.0)
    df_diff = float(2 * (seeds - 1)) if with_seed else bm
    se_row, se_diff = math.sqrt(v_row), math.sqrt(v_diff)
    half = float(_sps.t.ppf(1 - alpha / 2, df_row) * se_row)
    mdd = min_detectable_difference(se_diff, alpha, power, df_diff, n_comparisons)
    return Expected(half, mdd, se_row, df_row, se_diff, df_diff)


# ---------------------------------------------------------------------------------------------
# what stored cells say


@dataclass
class Observed:
    """Accuracy, seed-wide std, ICC and difference ratio estimated from stored cells (None: not stored)."""

    accuracy: float | None = None
    seed_std: float | None = None
    icc: float | None = None
    diff_ratio: float | None = None
    rows: int = 0
    seeds: list[int] = field(default_factory=list)
    design: str = ""
    seconds_per_cell: float | None = None
    train_items: int | None = None  # training items of the stored cells' design, when known
    timed_cells: int = 0
    timed_split: str | None = None  # the split policy of the timed cells when not cross-validation


def observe(matrices: dict[str, object], reference_row: str | None) -> Observed:
    """Per row (``reports.tables.PredictionMatrix`` with at least two seeds): the crossed variance's
    parts of accuracy, turned into σ_seed = √(S·V_seed) and ρ (:func:`fit_icc`); medians over rows.
    With ``reference_row``: r = V_cl(row − reference) / mean of the two rows' V_cl, median over rows."""
    out = Observed()
    acc, sd, icc, v_cls, sums_by_row = [], [], [], {}, {}
    for row, m in matrices.items():
        if m.y_pred.shape[0] < 2 or m.clusters is None:
            continue
        sums, sizes = cluster_sums(pseudo_values(m.y_true, m.y_pred, "accuracy"), m.clusters)
        cv = crossed_variance([sums], sizes)
        p = float(cv.estimate)
        acc.append(p)
        sd.append(math.sqrt(max(0.0, float(cv.v_seed)) * m.y_pred.shape[0]))
        icc.append(fit_icc(float(cv.v_cluster), sizes, p))
        v_cls[row], sums_by_row[row] = float(cv.v_cluster), (sums, sizes)
        out.seeds.append(m.y_pred.shape[0])
    if not acc:
        return out
    out.accuracy, out.seed_std = float(np.median(acc)), float(np.median(sd))
    out.icc = float(np.nanmedian(icc)) if np.isfinite(icc).any() else None
    out.rows = len(acc)
    if reference_row in sums_by_row:
        ref, sizes = sums_by_row[reference_row]
        ratios = []
        for row, (sums, _) in sums_by_row.items():
            base = (v_cls[row] + v_cls[reference_row]) / 2
            if row != reference_row and base > 0:
                ratios.append(float(crossed_variance([sums, ref], sizes, (1.0, -1.0)).v_cluster) / base)
        out.diff_ratio = float(np.median(ratios)) if ratios else None
    return out


# ---------------------------------------------------------------------------------------------
# designs


@dataclass(frozen=True)
class Design:
    """A design's clusters: the tested items' cluster sizes, and the training items per cell."""

    name: str
    sizes: np.ndarray
    train_items: int
    folds: int | None = None  # None: one test split

    @property
    def n_items(self) -> int:
        return int(self.sizes.sum())


@dataclass(frozen=True)
class Option:
    design: Design
    seeds: int
    cells_per_row: int
    cost: float  # training items x cells (proportional to CPU time)
    item: Expected
    cluster: Expected


def options(designs: Sequence[Design], p: float, icc: float, seed_std: float, diff_ratio: float,
            n_comparisons: int, max_seeds: int = MAX_SEEDS) -> list[Option]:
    out = []
    for d in designs:
        for s in range(2, max_seeds + 1):
            cells = s * (d.folds or 1)
            out.append(Option(d, s, cells, float(cells * d.train_items),
                              expected_precision(d.sizes, s, p, icc, seed_std, "item", diff_ratio, n_comparisons),
                              expected_precision(d.sizes, s, p, icc, seed_std, "cluster", diff_ratio, n_comparisons)))
    return out


def cheapest(opts: Sequence[Option], target: float, weighting: str = "item") -> Option | None:
    """The least training (cells x training items) whose expected row half-width is at most ``target``."""
    ok = [o for o in opts if (o.item if weighting == "item" else o.cluster).half_width <= target]
    return min(ok, key=lambda o: (o.cost, o.seeds)) if ok else None


# ---------------------------------------------------------------------------------------------
# the command


def _fmt_time(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def sizes_of(keys: Sequence[str]) -> np.ndarray:
    return np.unique(np.asarray(keys, dtype=str), return_counts=True)[1]


def cpu_text(observed: Observed, design: Design, cells: int) -> str:
    """Estimated CPU time of ``cells`` cells of ``design`` from the stored cells' mean ``train_seconds``,
    scaled by training items when the stored cells' design is known (else per cell as stored)."""
    if observed.seconds_per_cell is None:
        return "CPU time unknown (no stored cell has train_seconds)"
    per_cell = observed.seconds_per_cell * (design.train_items / observed.train_items if observed.train_items else 1.0)
    return (f"about {_fmt_time(per_cell * cells)} CPU (stored: {observed.seconds_per_cell:.0f} s per cell over "
            f"{observed.timed_cells} cells{', scaled by training items' if observed.train_items else ', not rescaled: their design differs'})")


def plan_slot(say: Callable[[str], None], slot_label: str, designs: Sequence[Design], observed: Observed, *,
              seeds: int, target: float, n_comparisons: int, n_rows: int) -> None:
    """Print one dataset slot's plan: clusters, design effect, expected precision, the cheapest design."""
    p = observed.accuracy if observed.accuracy is not None else ASSUMED_ACCURACY
    sd = observed.seed_std if observed.seed_std is not None else ASSUMED_SEED_STD
    ratio = observed.diff_ratio if observed.diff_ratio is not None else ASSUMED_DIFF_RATIO
    iccs = (observed.icc,) if observed.icc is not None else ASSUMED_ICC
    if observed.accuracy is not None:
        say(f"  observed in {observed.rows} stored row(s) ({observed.design}; seeds {sorted(set(observed.seeds))}): "
            f"accuracy {p:.3f}, seed-wide std {sd:.3f}, intra-cluster correlation ρ {observed.icc:.2f}"
            + (f", difference/row cluster-variance ratio {ratio:.2f}" if observed.diff_ratio is not None else
               f"; assumed ratio {ratio:g} (rows' errors uncorrelated, upper bound)"))
    else:
        say(f"  no stored cells: assumed accuracy {p:g}, seed-wide std {sd:g}, ρ between {iccs[0]:g} and {iccs[1]:g}, "
            f"difference/row cluster-variance ratio {ratio:g} (rows' errors uncorrelated, upper bound)")
    say(f"  Holm family: {n_comparisons} comparison(s); 95% intervals, MDD at 80% power; seed x cluster "
        "interaction not divided by the seeds (conservative)")
    for d in designs:
        g = d.sizes.size
        say(f"  {d.name}: {d.n_items} tested items in {g} clusters (largest {100 * d.sizes.max() / d.n_items:.1f}%); "
            f"Kish effective clusters {kish_effective_clusters(d.sizes):.1f} item-weighted, {g} cluster-weighted; "
            f"Bell-McCaffrey df {bell_mccaffrey_df(d.sizes):.1f}")
        for icc in iccs:
            e_i = expected_precision(d.sizes, seeds, p, icc, sd, "item", ratio, n_comparisons)
            e_c = expected_precision(d.sizes, seeds, p, icc, sd, "cluster", ratio, n_comparisons)
            deff = cluster_variance(d.sizes, p, icc) / (p * (1 - p) / d.n_items)
            say(f"    {seeds} seed(s), ρ {icc:.2f} (design effect {deff:.1f}): row accuracy ±{e_i.half_width:.3f} "
                f"(@cluster ±{e_c.half_width:.3f}); MDD between two rows ±{e_i.mdd:.3f} (@cluster ±{e_c.mdd:.3f}); "
                f"{seeds * (d.folds or 1)} cells per row")
        say(f"    cost at {seeds} seed(s): {seeds * (d.folds or 1) * n_rows} cells for the suite's {n_rows} row(s), "
            f"{cpu_text(observed, d, seeds * (d.folds or 1) * n_rows)}")
    icc = max(iccs)
    opts = options(designs, p, icc, sd, ratio, n_comparisons)
    for weighting, label in (("item", "accuracy"), ("cluster", "accuracy@cluster")):
        best = cheapest(opts, target, weighting)
        if best is None:
            floor = min((o.item if weighting == "item" else o.cluster).half_width for o in opts)
            say(f"  cheapest design for ±{target:g} on {label} (ρ {icc:.2f}): none up to {MAX_SEEDS} seeds "
                f"(best ±{floor:.3f}: the clusters, not the seeds, limit it)")
            continue
        e = best.item if weighting == "item" else best.cluster
        cells = best.cells_per_row * n_rows
        cost = f"{best.cells_per_row} cells per row, {cells} for the suite's {n_rows} row(s), " + \
            cpu_text(observed, best.design, cells)
        say(f"  cheapest design for ±{target:g} on {label} (ρ {icc:.2f}): {best.design.name} with {best.seeds} seeds: "
            f"±{e.half_width:.3f}, MDD ±{e.mdd:.3f}; {cost}")


def _observed_for(slot: str, records, tracker_runs, reference_row: str | None, current: Design, cv: Design,
                  current_split: str) -> Observed:
    """What the stored cells of one slot say: the statistics of the newest setting's rows (the store's
    choice, ``reports.store.load_cells``) and the mean ``train_seconds`` of its finished cells."""
    from reports.tables import design_text, prediction_matrix
    mine = [r for r in records if r.dataset == slot and r.status == "FINISHED"]
    by_row: dict[str, list] = {}
    for r in mine:
        by_row.setdefault(r.row, []).append(r)
    matrices = {}
    for row, recs in by_row.items():
        try:
            matrices[row] = prediction_matrix(recs)
        except ValueError:
            continue  # a row whose seeds disagree on items: the report names it; the plan skips it
    out = observe(matrices, reference_row)
    if mine:
        out.design = design_text(mine[0])
    secs = []
    kinds = set()
    for run in tracker_runs:
        t = run.data.tags
        if t.get("dataset") == slot and run.info.status == "FINISHED" and "train_seconds" in run.data.metrics:
            secs.append(float(run.data.metrics["train_seconds"]))
            kinds.add((t.get("split", ""), "design.fold" in t))
    if secs:
        out.seconds_per_cell, out.timed_cells = float(np.mean(secs)), len(secs)
        if len(kinds) == 1:
            split, is_cv = kinds.pop()
            if is_cv and split.startswith(f"{cv.folds}-fold"):
                out.train_items = cv.train_items
            elif not is_cv and split == current_split:
                out.train_items = current.train_items
            elif not is_cv:
                out.timed_split = split
    return out


def plan_suite(suite, data_root: Path, workdir: Path, *, datasets: Sequence[str] = (), folds: int = 5,
               fold_by: str | None = None, seeds: int | None = None, target: float = 0.03, split: str | None = None,
               on_missing_image: str = "drop", keep_humor: bool = False, say: Callable[[str], None] = print,
               row_labels: Sequence[str] = ()) -> None:
    """Print the plan of every dataset slot of ``suite`` (or of ``datasets``; of ``row_labels`` only, as
    ``bench run --row``): current design and ``folds``-fold cross-validation, from the data's clusters
    and the stored cells of ``workdir``."""
    import dataclasses

    from benchmark.data.clusters import cluster_keys
    from benchmark.data.folds import VALIDATION_FRACTION, plan_folds
    from benchmark.data.schema import DataError, split_title
    from benchmark.data.spec import DEFAULT_SPLIT
    from benchmark.loading import RunOptions, read_splits
    from benchmark.registry import UnknownNameError
    from benchmark.suites.resolve import resolve_slots, suite_rows
    from benchmark.tracking import Tracker

    split = split or DEFAULT_SPLIT
    slots = [s for s in suite.datasets if not datasets or s.id in datasets]
    unknown = sorted(set(datasets) - {s.id for s in suite.datasets})
    if unknown:
        raise UnknownNameError(f"suite {suite.name} has no dataset slot {', '.join(unknown)}; its slots: "
                         f"{', '.join(s.id for s in suite.datasets)}")
    rows = suite_rows(suite)
    if row_labels:
        missing = sorted(set(row_labels) - {row.label for row in rows})
        if missing:
            raise UnknownNameError(f"suite {suite.name} has no row {', '.join(map(repr, missing))}; its rows: "
                                   f"{', '.join(row.label for row in rows)}")
        rows = [row for row in rows if row.label in row_labels]
    seeds = seeds or suite.seeds
    records, runs = [], []
    if (Path(workdir) / "mlflow.db").is_file():
        from reports.store import load_cells
        records = load_cells(Path(workdir), suite.name).records
        runs = Tracker(Path(workdir)).cell_runs(suite.name, statuses=("FINISHED",))
    current = resolve_slots(slots, data_root, split)
    # the report's Holm family: every row against the reference row, on each slot that has data
    available = sum(res.dataset is not None for res in current)
    n_comparisons = max(1, (len(rows) - 1) * available) if suite.reference_row else 1
    # cross-validation pools the whole labelled release (as the runner resolves it: Twitter reads MediaEval
    # 2016, loaded with the same --split)
    pooled = resolve_slots(slots, data_root, "published" if split == DEFAULT_SPLIT else split)
    options = RunOptions(suite=suite.name, data_root=data_root, workdir=Path(workdir), split=split,
                         on_missing_image=on_missing_image, keep_humor=keep_humor)
    quiet = lambda message: None  # noqa: E731
    say(f"[plan] suite {suite.name}: {len(rows)} row(s), {seeds} seed(s), target ±{target:g} (95% half-width of a "
        f"row's accuracy); stored cells from {workdir}" + ("" if records else " (none found)"))
    for res, res_cv in zip(current, pooled):
        if res.dataset is None:
            say(f"[plan] {res.slot.label}: not available ({res.reason})")
            continue
        splits = read_splits(res.dataset, options, say=quiet)
        title = split_title(splits.split_policy)
        cur = Design(f"current design: {title if 'split' in title else title + ' split'} (its test split)",
                     sizes_of(cluster_keys(splits.test, splits.cluster_unit)), len(splits.train))
        pool = splits if res_cv.dataset == res.dataset else read_splits(res_cv.dataset, options, say=quiet)
        fp = plan_folds(pool, folds, fold_by)
        train = int(round(len(fp.items) * (folds - 1) / folds * (1 - VALIDATION_FRACTION)))
        cv = Design(f"{folds}-fold cross-validation by {fp.fold_by} ({res_cv.dataset}, every labelled item)",
                    sizes_of(cluster_keys(fp.items, pool.cluster_unit)), train, folds)
        say(f"[plan] {res.slot.label} ({res.slot.id}) = {res.dataset} ({res.source}); cluster unit {splits.cluster_unit}")
        observed = _observed_for(res.slot.id, records, runs, suite.reference_row, cur, cv, splits.split_policy)
        if observed.seconds_per_cell is not None and observed.train_items is None and observed.timed_split:
            try:  # the stored cells were trained on another split: its training size scales their time
                other = read_splits(res.dataset, dataclasses.replace(options, split=observed.timed_split), say=quiet)
                observed.train_items = len(other.train)
            except (DataError, ValueError):
                pass  # not a split this dataset can rebuild: the time stays per stored cell, and says so
        plan_slot(say, res.slot.label, [cur, cv], observed, seeds=seeds, target=target, n_comparisons=n_comparisons,
                  n_rows=len(rows))
