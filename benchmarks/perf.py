"""Performance benchmark: training throughput, FLOPs and the machine's own matmul limit, side by side.

Why a script and not a timed test: speed depends on the machine and its load, so a number only means
something as a ratio measured in one run (old code vs new, fp32 vs bf16, achieved vs the machine's
measured matmul limit). Every figure below is measured here, now, on this machine.

What it prints, per model and precision:
  posts/s     training throughput (posts x epochs per second) over ``--steps`` optimiser steps
  GFLOP/step  forward + backward FLOPs of one step (torch.utils.flop_counter, matmul/conv only)
  GFLOP/s     achieved; and its ratio to the matmul limit measured at the same precision and threads
and featurising throughput (items/s) of the default text and image encoders on real items; with
``--cold-run N``, the seconds a cold ``bench run`` spends featurising (every core, per precision).

``--compare REV_A REV_B`` runs the same measurements against two git revisions in one invocation
(each revision checked out into a temporary worktree, measured alternately ``--repeat`` times, best
of the repeats kept) and prints B/A ratios. The benchmark drives only stable surfaces (dataset
loading, ``build_model``, ``model(batch)``), so it can measure revisions older than itself.

Examples:
  python benchmarks/perf.py --data-root ../shared/data --models coolant,mcan,visualbert
  python benchmarks/perf.py --data-root ../shared/data --compare HEAD~5 HEAD --models coolant
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

PRECISIONS = ("fp32", "bf16")



def _loading():
    """(RunOptions, load_features, resolve_options) of the checkout being measured; commits before the
    cell pipeline kept them in ``benchmark.runner`` and resolved precision inside (identity there)."""
    try:
        from benchmark.loading import RunOptions, load_features, resolve_options
    except ImportError:  # an older commit, measured side by side
        from benchmark.runner import RunOptions, load_features
        resolve_options = lambda options: options  # noqa: E731
    return RunOptions, load_features, resolve_options

def _torch(threads: int):
    import torch
    torch.set_num_threads(threads)
    return torch


def matmul_limit(precision: str, threads: int, seconds: float = 1.0) -> float:
    """Best GFLOP/s of dense matmuls at shapes like the models' large layers (fp32 or bf16)."""
    torch = _torch(threads)
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    best = 0.0
    for m, k, n in ((3136, 1280, 256), (2048, 384, 256), (1024, 1024, 1024)):
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        torch.mm(a, b)
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            torch.mm(a, b)
            reps += 1
        elapsed = time.perf_counter() - start
        best = max(best, 2.0 * m * k * n * reps / elapsed / 1e9)
    return best


def _autocast(precision: str):
    import torch
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


def _features(args):
    RunOptions, load_features, resolve_options = _loading()
    from benchmark.registry import load_plugins
    load_plugins()
    options = resolve_options(RunOptions(suite="perf", data_root=Path(args.data_root) if args.data_root else None,
                                         workdir=Path(args.workdir), limit=args.limit))
    return load_features(args.dataset, options, limit=args.limit, say=lambda m: None)


def train_throughput(name: str, features, precision: str, steps: int, threads: int) -> dict:
    """Posts/s over ``steps`` training steps (after 2 warm-up steps) and FLOPs of one step."""
    torch = _torch(threads)
    from torch.utils.flop_counter import FlopCounterMode

    from benchmark.variants import build_model, resolve_config
    torch.manual_seed(0)
    config = resolve_config(name, "default", {})
    model = build_model(name, config, features.dims)
    model.train()
    optimizers = model.configure_optimizers()
    keys = set(model.requires)
    batch_size = max(2, int(config.batch_size))
    n = len(features.train)
    generator = torch.Generator().manual_seed(0)
    perm = torch.randperm(n, generator=generator)
    batches = [perm[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)] or [perm]

    def step(idx):
        batch = features.train.batch(idx, keys, "cpu")
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        with _autocast(precision):
            out = model(batch)
        out.losses["total"].backward()
        for opt in optimizers:
            opt.step()
        return len(idx)

    for i in range(2):
        step(batches[i % len(batches)])
    counter = FlopCounterMode(display=False)
    with counter:
        step(batches[0])
    flops = counter.get_total_flops()
    posts, start = 0, time.perf_counter()
    for i in range(steps):
        posts += step(batches[i % len(batches)])
    elapsed = time.perf_counter() - start
    return {"posts_per_s": posts / elapsed, "ms_per_step": 1000 * elapsed / steps,
            "gflop_per_step": flops / 1e9, "gflops": flops * steps / elapsed / 1e9, "batch_size": batch_size}


def featurise_throughput(splits, n_items: int, threads: int) -> dict:
    """Items/s of featurising the first ``n_items`` training items through a fresh (cold) feature cache.

    Goes through ``FeatureCache.get_text`` / ``get_images`` with the batch sizes that
    ``build_feature_splits`` uses in that revision, so ordering and batching choices are measured too.
    """
    _torch(threads)
    import inspect

    from benchmark.encoders.cache import FeatureCache
    from benchmark.encoders.catalog import get_image_encoder, get_text_encoder
    from benchmark.encoders.featurize import build_feature_splits
    defaults = inspect.signature(build_feature_splits).parameters
    text_bs, image_bs = defaults["text_batch_size"].default, defaults["image_batch_size"].default
    items = [item for item in splits.train if item.image_path is not None][:n_items]
    if not items:
        return {}
    text, image = get_text_encoder(), get_image_encoder()
    texts = list(dict.fromkeys(item.text for item in items))
    paths = list(dict.fromkeys(item.image_path for item in items))
    with tempfile.TemporaryDirectory() as tmp:
        warm = FeatureCache(Path(tmp) / "warm")  # loads the weights outside the timed part
        warm.get_text(text, texts[:2], batch_size=text_bs)
        warm.get_images(image, paths[:1], batch_size=image_bs)
        cache = FeatureCache(Path(tmp) / "cold")
        start = time.perf_counter()
        cache.get_text(text, texts, batch_size=text_bs)
        text_rate = len(texts) / (time.perf_counter() - start)
        start = time.perf_counter()
        cache.get_images(image, paths, batch_size=image_bs)
        image_rate = len(paths) / (time.perf_counter() - start)
    return {"text_items_per_s": text_rate, "image_items_per_s": image_rate, "n_texts": len(texts),
            "n_images": len(paths), "image_batch_size": image_bs}


def cold_run_featurise(args, precision: str) -> dict | None:
    """Seconds to featurise the dataset (capped at ``--cold-run`` items per split) into an empty feature
    cache, as a cold ``bench run`` does: ``load_features`` on a fresh work directory minus the same call
    on the now-warm cache (loading and gathering), with every core (the threads a run featurises
    with). None when this revision has no ``--precision`` (bf16 did not exist yet)."""
    import dataclasses

    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    from benchmark.registry import load_plugins
    RunOptions, load_features, resolve_options = _loading()
    load_plugins()
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    if precision != "fp32" and "precision" not in fields:
        return None
    limit = args.cold_run if args.cold_run > 0 else None
    with tempfile.TemporaryDirectory() as tmp:
        options = resolve_options(RunOptions(suite="perf", data_root=Path(args.data_root) if args.data_root else None,
                                             workdir=Path(tmp), limit=limit,
                                             **({"precision": precision} if "precision" in fields else {})))
        start = time.perf_counter()
        _, features = load_features(args.dataset, options, limit=limit, say=lambda m: None)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        load_features(args.dataset, options, limit=limit, say=lambda m: None)
        warm = time.perf_counter() - start
    # the shared row tables end with the null row build_feature_splits appends (absent text / image)
    return {"seconds": cold - warm, "texts": int(features.train.shared["text_tokens"][0].shape[0]) - 1,
            "images": int(features.train.shared["image_regions"][0].shape[0]) - 1, "threads": os.cpu_count()}


CLI_COMMANDS = (["--help"], ["list", "suites"], ["run", "--suite", "tabel2"])


def cli_latency(repeats: int = 5) -> dict[str, float]:
    """Median wall seconds of the answers a user waits for first (help, list, a misspelt suite name),
    each in a fresh `python -m benchmark.cli` process, so import time is included."""
    import statistics
    out = {}
    for argv in CLI_COMMANDS:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "benchmark.cli", *argv], capture_output=True)
            times.append(time.perf_counter() - start)
        out[" ".join(argv)] = statistics.median(times)
    return out


def measure(args) -> dict:
    """All measurements of this checkout (the code on PYTHONPATH)."""
    result: dict = {"threads": args.threads, "dataset": args.dataset, "limits": {}, "models": {}}
    for precision in args.precisions:
        result["limits"][precision] = matmul_limit(precision, args.threads)
    splits, features = _features(args)
    result["n_train"] = len(features.train)
    for name in args.models:
        for precision in args.precisions:
            m = train_throughput(name, features, precision, args.steps, args.threads)
            m["ratio_to_limit"] = m["gflops"] / result["limits"][precision]
            result["models"][f"{name}/{precision}"] = m
    if args.featurise:
        result["featurise"] = featurise_throughput(splits, args.featurise, args.threads)
    if args.cold_run:
        result["cold_run"] = {p: m for p in args.precisions if (m := cold_run_featurise(args, p)) is not None}
    return result


def print_cli(result: dict[str, float], out=sys.stdout) -> None:
    print("bench command latency (median of fresh processes, imports included):", file=out)
    for command, seconds in result.items():
        print(f"  bench {command:<24} {seconds:6.2f} s", file=out)


def print_table(results: dict[str, dict], out=sys.stdout) -> None:
    """One line per model/precision; with two revisions, the B/A ratio of posts/s beside."""
    labels = list(results)
    first = results[labels[0]]
    print(f"dataset {first['dataset']} ({first.get('n_train', '?')} training posts), torch threads "
          f"{first['threads']}", file=out)
    for label in labels:
        limits = ", ".join(f"{p} {v:.0f} GFLOP/s" for p, v in results[label]["limits"].items())
        print(f"[{label}] measured matmul limit: {limits}", file=out)
    head = f"{'model/precision':<22}" + "".join(
        f"{'[' + lab + '] posts/s':>22}{'GFLOP/step':>11}{'GFLOP/s':>9}{'of limit':>9}" for lab in labels)
    if len(labels) == 2:
        head += f"{'B/A':>7}"
    print(head, file=out)
    for key in first["models"]:
        line = f"{key:<22}"
        rates = []
        for lab in labels:
            m = results[lab]["models"].get(key)
            if m is None:
                line += f"{'n/a':>51}"
                continue
            rates.append(m["posts_per_s"])
            line += (f"{m['posts_per_s']:>22.1f}{m['gflop_per_step']:>11.2f}{m['gflops']:>9.1f}"
                     f"{m['ratio_to_limit']:>8.0%} ")
        if len(labels) == 2 and len(rates) == 2:
            line += f"{rates[1] / rates[0]:>6.2f}x"
        print(line, file=out)
    if all("featurise" in results[lab] for lab in labels):
        for kind in ("text_items_per_s", "image_items_per_s"):
            values = [results[lab]["featurise"].get(kind) for lab in labels]
            line = f"featurise {kind.split('_')[0]:<12}" + "".join(
                f"{v:>22.1f}{'':>29}" if v else f"{'n/a':>51}" for v in values)
            if len(values) == 2 and all(values):
                line += f"{values[1] / values[0]:>6.2f}x"
            print(line, file=out)
    if any("cold_run" in results[lab] for lab in labels):
        print("cold-run featurising (empty cache, every core; seconds, lower is better; ratio = speed-up):",
              file=out)
        precisions = list(dict.fromkeys(p for lab in labels for p in results[lab].get("cold_run", {})))
        for precision in precisions:
            runs = [results[lab].get("cold_run", {}).get(precision) for lab in labels]
            known = next(r for r in runs if r)
            line = f"  {precision} ({known['texts']} texts, {known['images']} images)".ljust(44)
            line += "".join(f"[{lab}] {r['seconds']:7.1f} s   " if r else f"[{lab}]     n/a   "
                            for lab, r in zip(labels, runs))
            if len(runs) == 2 and all(runs):
                line += f"{runs[0]['seconds'] / runs[1]['seconds']:>6.2f}x"
            print(line, file=out)
    if len(labels) == 2:  # what bf16 buys on the new code over fp32 on the old (both in this run)
        a, b = (results[lab] for lab in labels)
        lines = []
        for key, m in b["models"].items():
            name, precision = key.split("/")
            old = a["models"].get(f"{name}/fp32")
            if precision == "bf16" and old:
                lines.append(f"  {name:<20} {m['posts_per_s'] / old['posts_per_s']:>6.2f}x")
        old_run, new_run = a.get("cold_run", {}).get("fp32"), b.get("cold_run", {}).get("bf16")
        if old_run and new_run:
            lines.append(f"  {'cold-run featurising':<20} {old_run['seconds'] / new_run['seconds']:>6.2f}x")
        if lines:
            print(f"[{labels[1]}] bf16 vs [{labels[0]}] fp32:", file=out)
            for line in lines:
                print(line, file=out)


def _worktree(rev: str, root: Path) -> Path:
    path = Path(tempfile.mkdtemp(prefix="perf-")) / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "-q", str(path), rev], check=True)
    return path


def compare(args) -> dict[str, dict]:
    """Measure REV_A and REV_B alternately in subprocesses; keep each revision's best repeat."""
    root = Path(__file__).resolve().parent.parent
    trees = {rev: _worktree(rev, root) for rev in args.compare}
    best: dict[str, dict] = {}
    try:
        for _ in range(args.repeat):
            for rev, tree in trees.items():
                with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
                    out = handle.name
                argv = [sys.executable, str(Path(__file__).resolve()), "--json", out,
                        *[a for a in args.passthrough]]
                env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(args.threads), "PERF_CHILD": "1"}
                subprocess.run(argv, check=True, env=env, cwd=root)
                got = json.loads(Path(out).read_text())
                prev = best.get(rev)
                if prev is None:
                    best[rev] = got
                else:  # best of repeats: the least-disturbed measurement of each cell
                    for key, m in got["models"].items():
                        if m["posts_per_s"] > prev["models"][key]["posts_per_s"]:
                            prev["models"][key] = m
                    for key, v in got.get("featurise", {}).items():
                        if isinstance(v, float) and v > prev.get("featurise", {}).get(key, 0):
                            prev.setdefault("featurise", {})[key] = v
                    best_runs = prev.setdefault("cold_run", {})
                    for key, run in got.get("cold_run", {}).items():
                        if key not in best_runs or run["seconds"] < best_runs[key]["seconds"]:
                            best_runs[key] = run
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], check=False)
    return {f"{chr(65 + i)}={rev}": best[rev] for i, rev in enumerate(args.compare)}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None, help="folder with the datasets (default: synthetic)")
    parser.add_argument("--dataset", default=None,
                        help="registered dataset (default: mediaeval2016 with --data-root, else synthetic-demo)")
    parser.add_argument("--workdir", default="bench-runs", help="work directory whose feature cache is used")
    parser.add_argument("--models", default="coolant", help="comma-separated registered model names")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one core)")
    parser.add_argument("--limit", type=int, default=None, help="cap every split at N items")
    parser.add_argument("--featurise", type=int, default=256, help="items for the featurising rate (0: skip)")
    parser.add_argument("--cold-run", type=int, default=0,
                        help="also time featurising the dataset into an empty cache with every core, capped at N "
                             "items per split (-1: the whole dataset; 0: skip), per precision")
    parser.add_argument("--compare", nargs=2, metavar=("REV_A", "REV_B"), help="two git revisions")
    parser.add_argument("--repeat", type=int, default=2, help="alternating repeats with --compare")
    parser.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    parser.add_argument("--cli", action="store_true",
                        help="only measure how long `bench --help`, `bench list suites` and a misspelt suite take")
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.precisions = [p for p in args.precisions.split(",") if p]
    bad = set(args.precisions) - set(PRECISIONS)
    if bad:
        parser.error(f"unknown precision {sorted(bad)}; use {', '.join(PRECISIONS)}")
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.dataset is None:
        args.dataset = "mediaeval2016" if args.data_root else "synthetic-demo"
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--compare" in raw:  # the children get every option except --compare/--repeat/--json
        i = raw.index("--compare")
        del raw[i:i + 3]
    for flag in ("--repeat", "--json"):
        if flag in raw:
            i = raw.index(flag)
            del raw[i:i + 2]
    args.passthrough = raw
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.cli:
        print_cli(cli_latency())
        return 0
    results = compare(args) if args.compare else {"this checkout": measure(args)}
    if args.json:
        Path(args.json).write_text(json.dumps(results if args.compare else results["this checkout"], indent=2))
    if os.environ.get("PERF_CHILD") != "1":
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
