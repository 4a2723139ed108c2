"""The `bench` command: list, run, report, doctor, ui, data check and sweep behind one ``main(argv)``.

Each subcommand is a small function; tests call ``main([...])`` directly. Bad arguments fail at parse
time with exit 2; store and permission problems end in one ``bench: ...`` line, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from benchmark.data.schema import DataError
from benchmark.registry import (DATASETS, ENCODERS, MODELS, SUITES, VARIANTS, PluginError, UnknownNameError,
                                load_plugins, plugin_entry_points)


LIST_KINDS = ("models", "variants", "datasets", "suites", "encoders")
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so it unwinds exactly like Ctrl-C (cell closed as KILLED)."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``Terminated`` for the block; later SIGTERMs are ignored while cleaning up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the first one's cleanup finish
        raise Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def at_least(minimum: int, hint: str = "") -> Callable[[str], int]:
    """argparse ``type=``: a whole number >= ``minimum`` (bad values exit 2 naming the flag)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}{hint}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


def _workdir(args) -> Path:
    return Path(args.workdir or os.environ.get("BENCH_WORKDIR", "bench-runs"))


def get_suite(name: str):
    """The registered suite ``name``, or the suite file at path ``name`` (``*.yaml``; registered under
    its own name); a suite file that failed to load is named with its error."""
    from benchmark.suites import SUITE_ERRORS, register_suite_path
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        try:
            known = set(SUITES.names())
            suite = register_suite_path(Path(name))
        except (OSError, ValueError) as exc:
            raise UnknownNameError(f"suite file {name}: {exc}") from None
        if suite.name not in known:  # validated now, so that a bad file never stays registered
            from benchmark.suites.resolve import check_rows, suite_rows
            load_plugins()
            try:
                check_rows(suite, suite_rows(suite))
            except BaseException:
                SUITES.unregister(suite.name)
                raise
        return suite
    if name not in SUITES and name in SUITE_ERRORS:
        raise UnknownNameError(f"suite {name!r} could not be loaded: {SUITE_ERRORS[name]}")
    if name not in SUITES and plugin_entry_points():  # a suite that a third-party plugin registers
        load_plugins()
    return SUITES.get(name)


def _data_root(args) -> tuple[Path, bool]:
    from benchmark.loading import default_data_root
    if args.data_root:
        return Path(args.data_root), True
    return default_data_root(), "BENCH_DATA_ROOT" in os.environ


# list --------------------------------------------------------------------------------------------
def cmd_list(args) -> int:
    if args.kind == "suites" and not plugin_entry_points():  # suite files only: no torch import
        import benchmark.suites  # noqa: F401
    else:
        load_plugins()
    kinds = [args.kind] if args.kind else list(LIST_KINDS)
    for kind in kinds:
        print(f"{kind}:")
        if kind == "models":
            for name in MODELS.names():
                cls = MODELS.get(name)
                print(f"  {name:<14} {cls.description or (cls.__doc__ or '').strip().splitlines()[0]}")
        elif kind == "variants":
            for key in VARIANTS.names():
                v = VARIANTS.get(key)
                print(f"  {key:<32} {v.label:<28} {v.overrides}")
        elif kind == "datasets":
            for name in DATASETS.names():
                spec = DATASETS.get(name)
                where = f"<data-root>/{spec.folder}" if spec.kind == "real" else "embedded"
                print(f"  {name:<26} {spec.kind:<9} {where:<30} {spec.description}")
        elif kind == "suites":
            from benchmark.suites import SUITE_ERRORS
            for name in SUITES.names():
                print(f"  {name:<10} {SUITES.get(name).title}")
            for stem, error in sorted(SUITE_ERRORS.items()):
                print(f"  {stem:<10} BROKEN: {error}")
        elif kind == "encoders":
            from benchmark.encoders.catalog import (DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER,
                                                    DEFAULT_TEXT_ENCODER_BY_LANGUAGE)
            for name in ENCODERS.names():
                languages = [lang for lang, default in DEFAULT_TEXT_ENCODER_BY_LANGUAGE.items() if default == name]
                mark = (" (default)" if name in (DEFAULT_TEXT_ENCODER, DEFAULT_IMAGE_ENCODER)
                        else f" (default for {', '.join(languages)} datasets)" if languages else "")
                print(f"  {name}{mark}")
    return 0


# run ---------------------------------------------------------------------------------------------
def _params_from(args, suite) -> dict:
    if not args.params:
        return {}
    if args.params != "best":
        raise UnknownNameError(f"--params accepts only 'best' (the best parameters of stored sweeps), got {args.params!r}")
    from benchmark.sweep_cli import best_params_for_suite, suite_models
    return best_params_for_suite(_workdir(args), suite_models(suite), suite.name)


def _slurm_options(args, workdir: Path):
    """``--slurm-*`` flags to ``SlurmOptions``; job logs under ``<workdir>/slurm-logs``."""
    from benchmark.executors import SlurmOptions, parse_slurm_params
    if args.executor != "slurm":
        given = [flag for flag, value in (("--slurm-partition", args.slurm_partition), ("--slurm-time", args.slurm_time),
                                          ("--gpus-per-cell", args.gpus_per_cell), ("--slurm-param", args.slurm_param),
                                          ("--slurm-array-parallelism", args.slurm_array_parallelism)) if value]
        if given:
            raise SystemExit(f"bench run: {', '.join(given)} only apply with --executor slurm")
        return None
    try:
        params = parse_slurm_params(args.slurm_param or ())
    except ValueError as exc:
        raise SystemExit(f"bench run: {exc}") from None
    return SlurmOptions(folder=Path(workdir).resolve() / "slurm-logs", partition=args.slurm_partition,
                        time_min=args.slurm_time or 60, gpus_per_cell=args.gpus_per_cell or 0,
                        array_parallelism=args.slurm_array_parallelism or 64, params=params)


def cmd_run(args) -> int:
    import benchmark.suites  # noqa: F401  (a misspelt suite is answered before torch is imported)
    suite = get_suite(args.suite)
    from benchmark.engine import resolve_device
    from benchmark.executors import make_executor
    from benchmark.loading import RunOptions
    from benchmark.runner import SuiteRunner
    from benchmark.suites.resolve import validate_run
    from benchmark.tracking import check_store
    from benchmark.workdir_lock import workdir_lock
    load_plugins()
    data_root, explicit = _data_root(args)
    if suite.kind == "sweep":
        from benchmark.sweep_cli import run_sweep_suite
        return run_sweep_suite(suite, args, data_root)
    options = RunOptions(
        suite=suite.name, data_root=data_root, data_root_explicit=explicit, workdir=_workdir(args),
        seeds=args.seeds, max_epochs=args.max_epochs, limit=args.limit, device=args.device,
        protocol=args.protocol, text_encoder=args.text_encoder, image_encoder=args.image_encoder,
        text_encoder_path=args.text_encoder_path, image_encoder_path=args.image_encoder_path,
        on_missing_image=args.on_missing_image, split=args.split, precision=args.precision,
        allow_leaks=args.allow_leaks, keep_humor=args.keep_humor, params=_params_from(args, suite),
        rows=tuple(args.row or ()),
        datasets=tuple(args.dataset or ()), folds=args.folds, fold_by=args.fold_by,
        clip_path=args.clip_path, entity_file=args.entity_file)
    validate_run(suite, options)  # before the work directory is touched
    slurm = _slurm_options(args, options.workdir)
    check_store(options.workdir, must_exist=False)
    started = time.time()
    runner = None
    with workdir_lock(options.workdir), sigterm_as_interrupt():
        _backup(options.workdir)
        try:
            executor = make_executor(args.executor, args.jobs, device=str(resolve_device(options.device).type),
                                     slurm=slurm, retries=args.retries)
            runner = SuiteRunner(suite, options, executor=executor)
            failed = runner.run()
        except KeyboardInterrupt as exc:
            killed = runner.killed_cells if runner is not None else []
            closed = "".join(f"cell '{name}' closed as KILLED; " for name in killed)
            print(f"bench: {str(exc) or 'interrupted (Ctrl-C)'}: {closed}finished cells are kept; run the same "
                  "command again to resume", file=sys.stderr)
            return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
        print(f"[run] suite {suite.name} finished in {time.time() - started:.0f}s; {failed} failed cell(s)")
        from reports.build import build_suite_report
        from reports.summary import console_summary
        unchanged = runner.trained == 0 and failed == 0  # a no-op re-run: the report on disk may still hold
        written = build_suite_report(suite.name, options.workdir, protocol=args.protocol, allow_shrink=True,
                                     skip_if_unchanged=unchanged)
        if runner.parent_id is not None:  # the invocation's run carries the tables it produced
            for path in written:
                if path.name.startswith("table") and path.suffix in (".md", ".csv", ".tex"):
                    runner.tracker.log_artifact(runner.parent_id, path)
        print(console_summary(suite, options.workdir, written, runner.failed_names, runner.synthetic,
                              protocol=args.protocol))
    return 1 if failed else 0


# plan --------------------------------------------------------------------------------------------
def cmd_plan(args) -> int:
    import benchmark.data.catalog  # noqa: F401  (registers the datasets; torch-free)
    import benchmark.suites  # noqa: F401
    from reports.plan import plan_suite
    suite = get_suite(args.suite)
    data_root, _ = _data_root(args)
    plan_suite(suite, data_root, _workdir(args), datasets=tuple(args.dataset or ()), folds=args.folds,
               fold_by=args.fold_by, seeds=args.seeds, target=args.target, split=args.split,
               on_missing_image=args.on_missing_image, keep_humor=args.keep_humor, row_labels=tuple(args.row or ()))
    return 0


# report ------------------------------------------------------------------------------------------
def cmd_report(args) -> int:
    from benchmark.tracking import check_store
    from reports.build import ReportShrinks, build_all_reports, build_suite_report
    load_plugins()
    if not args.all and not args.suite:
        raise SystemExit("bench report: give --suite NAME or --all")
    if args.suite:
        args.suite = get_suite(args.suite).name  # a suite file's path becomes its registered name
    check_store(_workdir(args), must_exist=True)
    try:
        if args.all:
            paths = build_all_reports(_workdir(args), fmt=args.format, allow_shrink=args.allow_shrink)
        else:
            paths = build_suite_report(args.suite, _workdir(args), protocol=args.protocol, fmt=args.format,
                                       echo=True, allow_shrink=args.allow_shrink)
    except ReportShrinks as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"[report] {path}")
    return 0


# doctor ------------------------------------------------------------------------------------------
def _backup(workdir: Path) -> None:
    """Before a command writes the work directory's store: an online copy of it (the newest few kept)."""
    from benchmark.store_health import KEEP, backup_store
    from benchmark.tracking import server_uri
    if server_uri():
        return  # the tracking server's own backups cover its store
    copy = backup_store(workdir)
    if copy is not None:
        print(f"[store] backed up mlflow.db to {copy} (newest {KEEP} kept; `bench doctor --restore` puts one back)")


def cmd_doctor(args) -> int:
    from benchmark.doctor import run_doctor
    from benchmark.store_health import restore_store, store_file
    from benchmark.tracking import check_store, server_uri
    from benchmark.workdir_lock import workdir_lock
    load_plugins()
    if args.suite:
        args.suite = get_suite(args.suite).name
    workdir = _workdir(args)
    local = not server_uri()
    if args.restore:
        if not local:
            raise SystemExit("bench doctor --restore: the tracking server owns its store; restore its database "
                             "on the server (this restores only a work directory's mlflow.db)")
        with workdir_lock(workdir):
            used, aside = restore_store(workdir)
        print(f"[doctor] restored {store_file(workdir)} from the backup {used}"
              + (f"; the file it replaced is kept as {aside}" if aside else "")
              + "; runs recorded after that backup are gone from the store, so `bench run` trains their cells again")
    if not (local and store_file(workdir).is_file()):
        check_store(workdir, must_exist=True)  # no store: say why; a damaged one is described by run_doctor
    suites = [args.suite] if args.suite else None
    if args.repair:
        with workdir_lock(workdir):
            _backup(workdir)
            return run_doctor(workdir, suites, repair=True)
    return run_doctor(workdir, suites)


# ui ----------------------------------------------------------------------------------------------
def ui_command(workdir: Path, port: int) -> list[str]:
    from benchmark.tracking import artifact_root, tracking_uri
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri(workdir),
            "--default-artifact-root", artifact_root(workdir), "--host", "127.0.0.1", "--port", str(port)]


def ui_url(port: int) -> str:
    """The experiments page in model-training mode (the UI reads ``workflowType`` from the URL)."""
    return f"http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning"


def cmd_ui(args) -> int:
    workdir = _workdir(args)
    if not (workdir / "mlflow.db").is_file():
        print(f"no MLflow store at {workdir / 'mlflow.db'}; run `bench run --suite smoke --workdir {workdir}` first",
              file=sys.stderr)
        return 2
    command = ui_command(workdir, args.port)
    print("[ui] " + " ".join(command))
    print(f"[ui] open {ui_url(args.port)}  (MLflow 3 otherwise opens on its GenAI traces page)")
    if args.print_command:
        return 0
    return serve(command)


def serve(command: list[str]) -> int:
    """Run the MLflow server in its own process group and stop the whole group (uvicorn, job runners)
    when `bench ui` gets Ctrl-C or SIGTERM: `mlflow ui` alone leaves its children serving."""
    import signal
    import subprocess

    sys.stdout.flush()
    server = subprocess.Popen(command, start_new_session=True)

    def stop(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return server.wait()
    except KeyboardInterrupt:
        print("[ui] stopping the MLflow server", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        try:  # children that outlived the server process itself
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# data check --------------------------------------------------------------------------------------
def cmd_data(args) -> int:
    from benchmark.data.check import run_data_check
    from benchmark.data.spec import LoadOptions
    load_plugins()
    DATASETS.get(args.dataset)
    data_root, _ = _data_root(args)
    options = LoadOptions(seed=args.seed, on_missing_image=args.on_missing_image, keep_humor=args.keep_humor,
                          validation_fraction=args.validation_fraction, workdir=_workdir(args), split=args.split)
    return run_data_check(args.dataset, data_root, options, max_problems=args.max_problems or None)


# sweep -------------------------------------------------------------------------------------------
def cmd_sweep(args) -> int:
    from benchmark.sweep_cli import cli_sweep
    load_plugins()
    return cli_sweep(args)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", help="work directory for the MLflow store, caches and reports (default ./bench-runs)")


def _add_tracking(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", help="MLflow tracking server shared by many writers, e.g. http://mlflow-host:5000 "
                   "(default: $BENCH_TRACKING_URI, else the SQLite store in the work directory)")


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="folder holding the datasets (default $BENCH_DATA_ROOT or ./data)")
    p.add_argument("--on-missing-image", choices=("drop", "blank", "error"), default="drop",
                   help="posts whose images are missing: drop them (default), keep them without image, or stop")
    p.add_argument("--keep-humor", action="store_true", help="MediaEval 2015: keep 'humor' tweets as fake")
    from benchmark.data.splits import DEFAULT_SPLIT, SPLIT_CHOICES
    p.add_argument("--split", choices=SPLIT_CHOICES, default=DEFAULT_SPLIT,
                   help="paper (default): the split each paper used (Twitter: MediaEval 2015's events, rebuilt from "
                        "the 2016 release when there is no 2015 folder; otherwise the published split, or a seeded "
                        "random one where none is published); published: the release's own split (Twitter: the "
                        "2016 split; what runs used before paper existed); for datasets without a published split "
                        "(and Weibo's validation): random, grouped (no shared image or text across splits), "
                        "publisher or event (that field's groups, also leak-free)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of errors that are otherwise one line (full disk, permissions, "
                             "unreachable server, damaged store, ...)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models, variants, datasets, suites or encoders")
    p.add_argument("kind", nargs="?", choices=LIST_KINDS)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a suite: train every cell, log to MLflow, write the report")
    p.add_argument("--suite", required=True)
    _add_common(p)
    _add_data(p)
    p.add_argument("--seeds", type=at_least(1), help="run seeds 0..N-1 (default: the suite's)")
    p.add_argument("--max-epochs", type=at_least(1), help="cap the epochs of every model")
    p.add_argument("--limit", type=at_least(1, "; leave --limit out for no cap"),
                   help="cap every split at N items (stratified, seeded; default: no cap)")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    p.add_argument("--jobs", type=at_least(1), default=None,
                   help="train N cells at once in N worker processes with one torch thread each (default: "
                        "$BENCH_JOBS or the number of cores; 1 = one cell at a time in this process, one thread; "
                        "the numbers are the same for every N on one machine)")
    p.add_argument("--retries", type=at_least(0), default=1,
                   help="train a cell again this many times when its worker process dies (killed, out of "
                        "memory) before it is recorded FAILED (default 1; --executor local)")
    p.add_argument("--executor", choices=("inline", "local", "slurm"), default=None,
                   help="local (default on CPU): --jobs worker processes; inline: one cell at a time in this "
                        "process with all threads (default with --device cuda; one thread with --jobs 1); "
                        "slurm: one Slurm job per cell through submitit (run on a login node; the work "
                        "directory must be on storage the nodes share)")
    p.add_argument("--slurm-partition", help="Slurm partition of the cell jobs (default: the cluster's)")
    p.add_argument("--slurm-time", type=at_least(1), help="time limit of one cell's job in minutes (default 60)")
    p.add_argument("--gpus-per-cell", type=at_least(0), help="GPUs per cell job (default 0)")
    p.add_argument("--slurm-array-parallelism", type=at_least(1),
                   help="at most N cell jobs running at once (default 64)")
    p.add_argument("--slurm-param", action="append", metavar="KEY=VALUE",
                   help="extra sbatch option for every cell job, e.g. mem=8G, qos=short, account=lab (repeatable)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                   help="training and featurising precision: fp32 (CPU default; repeats exactly on the same machine, see "
                        "README, Reproducibility) or bf16 "
                        "autocast (CUDA default; on CPUs with bf16 units about 2-3x faster); part of each "
                        "cell's identity and feature-cache key")
    p.add_argument("--protocol", choices=("clean", "as-released"), default="clean",
                   help="clean: select on validation, test once (default); as-released: best test epoch")
    p.add_argument("--params", help="'best': use the best parameters of stored Optuna sweeps")
    p.add_argument("--folds", type=at_least(2), default=None,
                   help="evaluation design: K-fold cross-validation over every labelled item of each dataset "
                        "(train + test of its split), whole groups per fold; out-of-fold predictions are pooled "
                        "per seed in the report (default: the suite's, else the dataset's split)")
    p.add_argument("--fold-by", choices=("event", "publisher", "grouped", "image"), default=None,
                   help="the groups of --folds (always unioned with shared images and texts); default: event "
                        "where items carry events (MediaEval, Weibo), publisher where they carry outlets "
                        "(ReCOVery), else grouped")
    p.add_argument("--trials", type=int, help="sweep suites (table3): number of trials (default: the suite's)")
    p.add_argument("--text-encoder",
                   help="registered text encoder (default: minilm; use-multilingual-v3 for Chinese datasets)")
    p.add_argument("--image-encoder", help="registered image encoder (default efficientnet-lite0)")
    p.add_argument("--text-encoder-path", help="local folder of the text encoder weights")
    p.add_argument("--image-encoder-path", help="local file of the image encoder weights")
    p.add_argument("--clip-path", help="FND-CLIP: a local CLIP folder (CLIPModel.save_pretrained, e.g. "
                                       "openai/clip-vit-base-patch32) whose frozen embeddings replace the "
                                       "offline stand-in")
    p.add_argument("--entity-file", help="MKEMN: a JSON-lines file of each post's linked knowledge-graph entities "
                                         "and concepts (format: benchmark/data/entities.py) for its knowledge "
                                         "channels")
    p.add_argument("--allow-leaks", action="store_true", help="run even if train and test share items")
    p.add_argument("--row", action="append", help="only this row label (repeatable)")
    p.add_argument("--dataset", action="append", help="only this dataset slot id (repeatable)")
    _add_tracking(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("plan", help="before training: clusters, design effect, expected half-width and minimum "
                                     "detectable difference of the split and a K-fold design, and the cheapest design "
                                     "reaching --target")
    p.add_argument("--suite", required=True)
    _add_common(p)
    _add_data(p)
    p.add_argument("--dataset", action="append", help="only this dataset slot id (repeatable)")
    p.add_argument("--folds", type=at_least(2), default=5, help="K of the cross-validation design (default 5)")
    p.add_argument("--fold-by", choices=("event", "publisher", "grouped", "image"), default=None,
                   help="the groups of the folds (default: the dataset's, as `bench run --folds`)")
    p.add_argument("--seeds", type=at_least(2), help="seeds of the designs shown (default: the suite's)")
    p.add_argument("--target", type=float, default=0.03, help="wanted 95%% half-width of a row's accuracy (default 0.03)")
    p.add_argument("--row", action="append", help="only this row label, as `bench run --row` (repeatable)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("report", help="rebuild tables and figures from the store alone")
    p.add_argument("--suite")
    p.add_argument("--all", action="store_true", help="every suite with stored runs, plus an index page")
    p.add_argument("--protocol", choices=("clean", "as-released"), default="clean")
    p.add_argument("--format", choices=("markdown", "latex"), default="markdown",
                   help="what to print (all formats are always written)")
    p.add_argument("--allow-shrink", action="store_true",
                   help="write the table even if it holds fewer finished cells than the one it replaces")
    _add_common(p)
    _add_tracking(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("doctor", help="verify every stored cell (artifacts, predictions vs metrics, orphans)")
    p.add_argument("--suite", help="only this suite (default: every suite in the store)")
    p.add_argument("--repair", action="store_true",
                   help="mark damaged cells FAILED (the next `bench run` retrains them) and close orphans")
    p.add_argument("--restore", action="store_true",
                   help="put back the newest backup of mlflow.db that passes SQLite's integrity check (taken "
                        "before each run; the current file is kept beside it), then verify as usual")
    _add_common(p)
    _add_tracking(p)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("ui", help="MLflow UI over the store, bound to 127.0.0.1")
    _add_common(p)
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--print-command", action="store_true", help="print the command instead of starting it")
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("data", help="dataset tools")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    c = data_sub.add_parser("check", help="counts, missing images, duplicates, leaks, bad rows")
    c.add_argument("dataset")
    c.add_argument("--max-problems", type=int, default=25, help="problems to list (0 = all)")
    c.add_argument("--seed", type=int, default=0, help="seed of the train/validation split")
    c.add_argument("--validation-fraction", type=float, default=0.1)
    _add_common(c)
    _add_data(c)
    c.set_defaults(func=cmd_data)

    p = sub.add_parser("sweep", help="Optuna sweep over a model's search space (objective: validation)")
    p.add_argument("--model", required=True)
    p.add_argument("--variant", default="default")
    p.add_argument("--dataset", required=True, help="registered dataset name")
    p.add_argument("--trials", type=at_least(1), required=True)
    p.add_argument("--study", required=True, help="study name; re-running resumes it")
    p.add_argument("--storage", help="Optuna storage URL (default: $BENCH_SWEEP_STORAGE, else a file in the work "
                   "directory); prefer the variable for URLs with a password, which argv shows in `ps`")
    p.add_argument("--workers", type=at_least(1), default=1)
    p.add_argument("--metric", default="val_accuracy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-epochs", type=at_least(1))
    p.add_argument("--limit", type=at_least(1, "; leave --limit out for no cap"))
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                   help="training and featurising precision (default: fp32 on CPU, bf16 on CUDA); recorded in the "
                        "study, which refuses to resume under another")
    p.add_argument("--allow-leaks", action="store_true",
                   help="train even when the loaded splits share images or texts (as `bench run --allow-leaks`)")
    p.add_argument("--tracking-uri", help="MLflow tracking server URI shared by workers on several machines "
                   "(default: the SQLite store in the work directory)")
    p.add_argument("--heartbeat-interval", type=int, default=60,
                   help="seconds between a running trial's heartbeats (default 60)")
    p.add_argument("--grace-period", type=int, default=180,
                   help="a RUNNING trial without a heartbeat for this many seconds is failed and re-queued (default 180)")
    p.add_argument("--parent-run", help=argparse.SUPPRESS)  # set by the parent process for its workers
    p.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    _add_common(p)
    _add_data(p)
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    from benchmark.redaction import hide_argv_credentials, masked_output
    if argv is None:
        hide_argv_credentials()  # a password typed on the command line, out of `ps` while the run lasts
    parser = build_parser()
    args = parser.parse_args(argv)
    # no credential in anything printed, logged or raised; library tracebacks only with --debug or -v
    with masked_output(keep_tracebacks=args.debug or args.verbose):
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        return _main(args)


def _main(args) -> int:
    from benchmark.errors import SweepError
    from benchmark.tracking import TRACKING_URI_ENV, StoreError, using_tracking_uri
    from benchmark.user_errors import explain
    from benchmark.workdir_lock import WorkdirBusy
    uris = [getattr(args, "tracking_uri", None) or os.environ.get(TRACKING_URI_ENV, ""),
            getattr(args, "storage", None) or os.environ.get("BENCH_SWEEP_STORAGE", "")]
    try:
        with using_tracking_uri(getattr(args, "tracking_uri", None)):
            return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        print(f"bench: {str(exc) or 'interrupted (Ctrl-C)'}", file=sys.stderr)
        return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
    except Exception as exc:
        error = exc
        if isinstance(exc, (UnknownNameError, StoreError, WorkdirBusy, PluginError, SweepError)):
            message = str(exc)
        elif isinstance(exc, DataError):
            message = f"data error: {exc}"
        else:
            message = explain(exc, uris, workdir=_workdir(args) if hasattr(args, "workdir") else None)
            if message is None:  # not the environment: a bug, shown with its (masked) traceback
                raise
    if args.debug:
        import traceback
        traceback.print_exception(error, file=sys.stderr)
    print(f"bench: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
