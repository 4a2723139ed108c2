"""``bench sweep`` and ``bench run --suite table3``: command-line arguments to a study over the cell pipeline.

The study's base cell is resolved exactly as ``bench run`` resolves a suite cell (the same options,
``load_splits`` with its split policy and leak refusal, encoder identities, resolved precision), so a
sweep cannot train on data a suite would refuse. Worker processes get their command line from
``worker_argv``; a storage URL with a password reaches them through ``$BENCH_SWEEP_STORAGE``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import optuna

from benchmark.cells import CellSpec
from benchmark.data.spec import DEFAULT_SPLIT
from benchmark.loading import (RunOptions, default_data_root, encoders_read_by, load_features, load_splits,
                               resolve_options)
from benchmark.sweep import (SearchSpace, SweepContext, SweepError, run_study, run_worker, safe_name, split_params)
from benchmark.sweep_storage import (DEFAULT_GRACE_S, DEFAULT_HEARTBEAT_S, STORAGE_ENV, is_journal, redact,
                                     resolve_storage_url, stored_sweeps)



# search spaces -----------------------------------------------------------------------------------
def model_search_space(model_name: str) -> SearchSpace:
    """The model's declared ``search_space(trial)`` (config overrides; no data parameters)."""
    from benchmark.registry import MODELS
    cls = MODELS.get(model_name)
    return lambda trial: (dict(cls.search_space(trial)), {})


def grid_search_space(params: dict[str, Any]) -> SearchSpace:
    """A suite's ``study.params``: name -> list of choices (categorical) or {low, high, log} (float)."""
    def space(trial: optuna.trial.BaseTrial) -> tuple[dict[str, Any], dict[str, Any]]:
        out: dict[str, Any] = {}
        for name, spec in params.items():
            if isinstance(spec, (list, tuple)):
                out[name] = trial.suggest_categorical(name, list(spec))
            elif isinstance(spec, dict) and "low" in spec:
                if isinstance(spec["low"], int) and isinstance(spec["high"], int) and not spec.get("log"):
                    out[name] = trial.suggest_int(name, spec["low"], spec["high"])
                else:
                    out[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                                    log=bool(spec.get("log", False)))
            else:
                raise ValueError(f"study parameter {name!r}: give a list of choices or {{low, high, log}}, "
                                 f"got {spec!r}")
        return split_params(out)
    return space


def run_options(args, data_root: Path | None, explicit: bool, suite: str) -> RunOptions:
    """The run options a sweep's flags give, precision resolved (the same vocabulary as ``bench run``)."""
    return resolve_options(RunOptions(
        suite=suite, data_root=data_root, data_root_explicit=explicit,
        workdir=Path(args.workdir or os.environ.get("BENCH_WORKDIR", "bench-runs")),
        device=getattr(args, "device", "auto"), on_missing_image=getattr(args, "on_missing_image", "drop"),
        split=getattr(args, "split", DEFAULT_SPLIT), precision=getattr(args, "precision", None),
        keep_humor=getattr(args, "keep_humor", False), allow_leaks=getattr(args, "allow_leaks", False),
        text_encoder=getattr(args, "text_encoder", None), image_encoder=getattr(args, "image_encoder", None),
        text_encoder_path=getattr(args, "text_encoder_path", None),
        image_encoder_path=getattr(args, "image_encoder_path", None)))


def base_cell(*, suite: str, model: str, variant: str, dataset: str, slot: str, slot_label: str, source: str,
              options: RunOptions, seed: int, limit: int | None, say: Callable[[str], None]
              ) -> tuple[CellSpec, dict[str, Any], Callable[[], tuple[Any, Any]]]:
    """(the study's base cell, its identity attributes, the loader of its data). Loading the splits
    here applies the split policy and refuses leaking splits before any trial exists."""
    from benchmark.variants import resolve_config
    splits, encoders = load_splits(dataset, options, limit, say=say)
    encoders = encoders_read_by(model, encoders)
    spec = CellSpec(suite=suite, row="trial", model=model, variant=variant, config=resolve_config(model, variant, {}),
                    slot=slot, slot_label=slot_label, dataset=dataset, data_source=source, options=options,
                    seed=seed, limit=limit, data_fingerprint=splits.fingerprint(), split=splits.split_policy,
                    cluster_unit=splits.cluster_unit, encoders=tuple(sorted(encoders.items())))
    identity = {"encoders": dict(encoders), "data": spec.data_fingerprint, "cluster_unit": spec.cluster_unit}
    return spec, identity, lambda: load_features(dataset, options, limit, say=say)


def storage_secret(storage_url: str) -> bool:
    """Whether the URL carries a password (then it must not appear on a command line, visible in `ps`)."""
    return redact(storage_url) != storage_url


def worker_env(storage_url: str, tracking_uri: str | None) -> dict[str, str] | None:
    """Environment of sweep workers: URIs with a password travel here, never on their command line."""
    from benchmark.redaction import has_secret
    from benchmark.tracking import TRACKING_URI_ENV
    env = {STORAGE_ENV: storage_url} if storage_secret(storage_url) else {}
    if tracking_uri and has_secret(tracking_uri):
        env[TRACKING_URI_ENV] = tracking_uri
    return env or None


def worker_argv(args, storage_url: str, parent_run: str) -> Callable[[int], list[str]]:
    """Worker command lines; a storage URL or tracking URI with a password is left out (it reaches the
    workers through ``$BENCH_SWEEP_STORAGE`` / ``$BENCH_TRACKING_URI``, see ``worker_env``)."""
    from benchmark.redaction import has_secret
    storage = [] if storage_secret(storage_url) else ["--storage", storage_url]
    tracking = None if has_secret(args.tracking_uri) else args.tracking_uri

    def argv(index: int) -> list[str]:
        cmd = [sys.executable, "-m", "benchmark.cli", "sweep", "--model", args.model, "--variant", args.variant,
               "--dataset", args.dataset, "--trials", str(args.trials), "--study", args.study,
               *storage, "--workers", "1", "--metric", args.metric, "--seed", str(args.seed),
               "--device", args.device, "--parent-run", parent_run, "--worker-index", str(index),
               "--heartbeat-interval", str(args.heartbeat_interval), "--grace-period", str(args.grace_period),
               "--on-missing-image", args.on_missing_image, "--split", getattr(args, "split", DEFAULT_SPLIT)]
        for flag, value in (("--max-epochs", args.max_epochs), ("--limit", args.limit),
                            ("--workdir", args.workdir), ("--data-root", args.data_root),
                            ("--tracking-uri", tracking), ("--precision", getattr(args, "precision", None))):
            if value is not None:
                cmd += [flag, str(value)]
        if args.keep_humor:
            cmd.append("--keep-humor")
        if getattr(args, "allow_leaks", False):
            cmd.append("--allow-leaks")
        return cmd
    return argv


def cli_sweep(args) -> int:
    """``bench sweep``: run (or resume) an Optuna study over the model's search space."""
    from benchmark.registry import DATASETS, MODELS
    from benchmark.variants import get_variant

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    MODELS.get(args.model)
    get_variant(args.model, args.variant)
    DATASETS.get(args.dataset)
    if args.trials < 1 or args.workers < 1:
        raise SweepError("--trials and --workers must be at least 1")
    for name in ("heartbeat_interval", "grace_period", "tracking_uri", "parent_run", "worker_index"):
        if not hasattr(args, name):
            setattr(args, name, {"heartbeat_interval": DEFAULT_HEARTBEAT_S,
                                 "grace_period": DEFAULT_GRACE_S}.get(name))
    data_root = Path(args.data_root) if args.data_root else default_data_root()
    options = run_options(args, data_root, bool(args.data_root), "sweep")
    storage_url = resolve_storage_url(args.storage or os.environ.get(STORAGE_ENV), options.workdir, args.workers,
                                      args.study)
    worker = args.parent_run is not None
    say = (lambda m: print(f"[worker {args.worker_index}] {m}", flush=True)) if worker else \
        (lambda m: print(m, flush=True))
    source = "synthetic" if DATASETS.get(args.dataset).kind != "real" else "real"
    base, identity, load = base_cell(suite="sweep", model=args.model, variant=args.variant, dataset=args.dataset,
                                     slot=args.dataset, slot_label=args.dataset, source=source, options=options,
                                     seed=args.seed, limit=args.limit, say=say)
    ctx = SweepContext(
        study_name=args.study, base=base, trials=args.trials, storage_url=storage_url,
        space=model_search_space(args.model), load=load, metric=args.metric, max_epochs=args.max_epochs,
        tracking_uri=args.tracking_uri, heartbeat_interval=args.heartbeat_interval,
        grace_period=args.grace_period, identity=identity, say=say)
    if worker:
        from benchmark.sweep import SweepTracker
        study = ctx.open_study(create=False)
        ctx.tracker = SweepTracker(options.workdir, tracking_uri=args.tracking_uri)
        ctx.parent_run = args.parent_run
        stats = run_worker(study, ctx)
        say(f"done: {stats.complete} complete, {stats.pruned} pruned, {stats.failed} failed, {stats.lost} lost")
        return 0
    if args.workers > 1 and not is_journal(storage_url) and storage_url.startswith("sqlite"):
        print("[sweep] note: several workers on an SQLite study; prefer the journal file or PostgreSQL", flush=True)
    # the parent run id exists only once run_study has opened it; the worker command reads it then
    _, rc = run_study(ctx, workers=args.workers,
                      worker_argv=lambda i: worker_argv(args, storage_url, ctx.parent_run or "")(i),
                      worker_env=worker_env(storage_url, args.tracking_uri))
    counts = ctx.counts(ctx.open_study(create=False))
    print(f"[sweep] study {args.study}: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
          f"{counts['FAIL']} failed, {counts['RUNNING']} running; best params in "
          f"{options.workdir / 'sweeps' / (safe_name(args.study) + '.json')}", flush=True)
    return rc


# the table3 suite --------------------------------------------------------------------------------
def pick_study_model(study: dict[str, Any]) -> tuple[str, str]:
    """The suite's study model, or its ``fallback`` while that model is not registered."""
    from benchmark.registry import MODELS, VARIANTS
    model, variant = study["model"], study.get("variant", "default")
    if model in MODELS and (variant == "default" or f"{model}:{variant}" in VARIANTS):
        return model, variant
    fallback = study.get("fallback")
    if fallback:
        return fallback["model"], fallback.get("variant", "default")
    return model, variant


def suite_models(suite) -> list[str]:
    """The models of a suite's rows (and of its study): what ``--params best`` looks up."""
    from benchmark.suites.resolve import suite_rows
    models = [row.model for row in suite_rows(suite)]
    if suite.kind == "sweep" and suite.study:
        models.append(pick_study_model(suite.study)[0])
    return list(dict.fromkeys(models))


def study_name(suite, model: str, variant: str, dataset: str, options: RunOptions, limit: int | None,
               max_epochs: int | None) -> str:
    """The table3 study of one setting: every flag that changes a trial's data or budget is in its name."""
    parts = [suite.name, model, variant, dataset]
    # paper (the default) divides items like random everywhere (the dataset name says which Twitter
    # split): both keep the study names stored before --split paper existed
    parts += [f"split-{options.split}"] if options.split not in ("random", DEFAULT_SPLIT) else []
    parts += [f"limit{limit}"] if limit else []
    parts += [f"ep{max_epochs}"] if max_epochs else []
    parts += [options.precision] if options.precision != "fp32" else []
    return "-".join(parts)


def refuse_flags(suite, args) -> str | None:
    """Flags of ``bench run`` that a sweep suite cannot honour: refused by name, never ignored."""
    if getattr(args, "protocol", "clean") != "clean":
        return (f"suite {suite.name} is a sweep; its objective is the validation metric under the clean "
                f"protocol, so --protocol {args.protocol} does not apply")
    for flag, value, why in (("--params", getattr(args, "params", None), "it searches the parameters"),
                             ("--seeds", getattr(args, "seeds", None), "a study has one seed (study.seed in the "
                                                                       "suite file); its trials vary parameters"),
                             ("--jobs", getattr(args, "jobs", None), "run `bench sweep --workers N` for parallel "
                                                                     "trials"),
                             ("--executor", getattr(args, "executor", None), "trials run in this process"),
                             ("--clip-path", getattr(args, "clip_path", None), "its study model reads no CLIP"),
                             ("--entity-file", getattr(args, "entity_file", None), "its study model reads no "
                                                                                    "entities")):
        if value:
            return f"{flag} does not apply to the sweep suite {suite.name} ({why})"
    return None


def run_sweep_suite(suite, args, data_root: Path) -> int:
    """``bench run --suite table3``: run/resume the suite's study per dataset slot and write the report."""
    from benchmark.registry import load_plugins
    from benchmark.suites.resolve import SYNTHETIC_BANNER, resolve_slots
    from reports.sweep import write_study_report

    load_plugins()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    refused = refuse_flags(suite, args)
    if refused:
        print(f"bench: {refused}", file=sys.stderr)
        return 2
    spec = suite.study
    model, variant = pick_study_model(spec)
    if (model, variant) != (spec["model"], spec.get("variant", "default")):
        print(f"[sweep] {spec['model']}:{spec.get('variant', 'default')} is not registered; using the fallback "
              f"{model}:{variant}", flush=True)
    options = run_options(args, data_root, bool(getattr(args, "data_root", None)), suite.name)
    wanted = tuple(getattr(args, "dataset", None) or ())
    resolutions = [r for r in resolve_slots(suite.datasets, data_root, options.split)
                   if not wanted or r.slot.id in wanted]
    limit = args.limit if getattr(args, "limit", None) is not None else suite.limit
    max_epochs = args.max_epochs if getattr(args, "max_epochs", None) is not None else suite.max_epochs
    trials = int(getattr(args, "trials", None) or os.environ.get("BENCH_SWEEP_TRIALS") or spec.get("trials", 20))
    if any(r.source == "synthetic" for r in resolutions):
        print(SYNTHETIC_BANNER, flush=True)
    rc = 0
    for res in resolutions:
        if res.dataset is None:
            print(f"[{res.slot.label}] not available: {res.reason}", flush=True)
            continue
        name = study_name(suite, model, variant, res.dataset, options, limit, max_epochs)
        base, identity, load = base_cell(suite=suite.name, model=model, variant=variant, dataset=res.dataset,
                                         slot=res.slot.id, slot_label=res.slot.label, source=res.source,
                                         options=options, seed=int(spec.get("seed", 0)), limit=limit,
                                         say=lambda m: print(m, flush=True))
        paper = dict(spec.get("paper_best") or {})
        ctx = SweepContext(
            study_name=name, base=base, trials=trials,
            storage_url=resolve_storage_url(spec.get("storage"), options.workdir, 1, name),
            space=grid_search_space(spec["params"]), load=load, metric=spec.get("metric", "val_accuracy"),
            max_epochs=max_epochs, experiment=suite.name, enqueue=[paper] if paper else [],
            identity={**identity, "suite": suite.name, "slot": res.slot.id},
            report_info={"suite": suite.name, "slot": res.slot.id, "slot_label": res.slot.label,
                         "data_source": res.source},
            pruner_startup_trials=int(spec.get("pruner_startup_trials", 5)))
        study, code = run_study(ctx)
        rc = rc or code
        suffix = "" if len(resolutions) == 1 else f"-{res.slot.id}"
        for path in write_study_report(study, suite, ctx.summary, options.workdir, suffix=suffix):
            print(f"[report] {path}", flush=True)
        if ctx.tracker is not None and ctx.parent_run:
            ctx.tracker.log_files(ctx.parent_run, {p.name: p for p in options.workdir.joinpath(
                "reports", suite.name).glob(f"table{suffix}.*")})
    return rc


# bench run --params best -------------------------------------------------------------------------
def best_params_for_suite(workdir: Path, models: list[str], suite_name: str,
                          say: Callable[[str], None] = lambda m: print(m, flush=True)) -> dict[str, dict[str, Any]]:
    """{model: config overrides} from the latest stored study (with a best trial) of each of ``models``."""
    from benchmark.registry import MODELS
    latest: dict[str, dict[str, Any]] = {}
    for data in stored_sweeps(workdir):
        model = data.get("model")
        if model in models and data.get("best_overrides") is not None:
            if model not in latest or str(data.get("updated", "")) >= str(latest[model].get("updated", "")):
                latest[model] = data
    if not latest:
        raise SweepError(f"--params best: no stored sweep with a finished trial for the models of suite "
                         f"{suite_name} ({', '.join(models)}) under {Path(workdir) / 'sweeps'}; run `bench sweep "
                         f"--model M --dataset D --trials N --study NAME --workdir {workdir}` first")
    out: dict[str, dict[str, Any]] = {}
    for model, data in latest.items():
        fields = MODELS.get(model).config_class.field_names()
        overrides = {k: v for k, v in data["best_overrides"].items() if k in fields}
        dropped = sorted(set(data["best_overrides"]) - set(overrides))
        out[model] = overrides
        say(f"[params] {model}: {overrides} from study {data['study']} ({data['metric']}="
            f"{data['best_value']:.4f}, trial {data['best_trial']})" + (f"; not config keys, ignored: {dropped}"
                                                                        if dropped else ""))
    for model in models:
        if model not in out:
            say(f"[params] {model}: no stored sweep; paper defaults")
    return out
