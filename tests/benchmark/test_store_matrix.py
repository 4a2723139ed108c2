"""The kill / corrupt / concurrency matrix of issue #16, "a store that cannot lie".

One small finished store (table2, COOLANT on synthetic Twitter, 2 seeds, 1 epoch, 40 items) is built
once and copied for every case; each case damages or misuses it and asserts the message the user
gets and that nothing finished is lost. The copies themselves exercise relocation: their mlflow.db
holds the absolute artifact paths of the original folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import benchmark.runner as runner_mod
from benchmark.cli import main
from benchmark.tracking import Tracker

# trains real cells, starts servers or processes: after the fast part (tests/conftest.py orders it)
pytestmark = pytest.mark.slow

BASE = ["--suite", "table2", "--row", "COOLANT", "--dataset", "twitter", "--limit", "40", "--device", "cpu"]


def bench_run(workdir: Path, *extra: str, epochs: str = "1", seeds: str = "2") -> int:
    return main(["run", *BASE, "--workdir", str(workdir), "--max-epochs", epochs, "--seeds", seeds, *extra])


def cells(workdir: Path, statuses=("FINISHED", "FAILED", "RUNNING", "KILLED")) -> list:
    return Tracker(workdir).cell_runs("table2", statuses=statuses)


def table_row(workdir: Path, metric: str = "accuracy") -> pd.Series:
    frame = pd.read_csv(workdir / "reports" / "table2" / "table.csv")
    return frame[(frame["row"] == "COOLANT") & (frame["metric"] == metric)].iloc[0]


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("store") / "w"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("BENCH_DATA_ROOT", raising=False)
        assert bench_run(workdir) == 0
    return workdir


@pytest.fixture
def store(base_store, tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("BENCH_DATA_ROOT", raising=False)
    copy = tmp_path / "w"
    shutil.copytree(base_store, copy)
    return copy


def finished_folders(workdir: Path) -> dict[int, Path]:
    tracker = Tracker(workdir)
    return {int(r.data.tags["seed"]): tracker.artifact_path(r) for r in cells(workdir, ("FINISHED",))}


# 1. a report never mixes settings ------------------------------------------------------------------
def test_report_keeps_one_setting_per_row_and_names_the_rest(store):
    assert bench_run(store, epochs="2", seeds="1") == 0
    note = (store / "reports" / "table2" / "table.md").read_text()
    assert table_row(store)["n_seeds"] == 1  # the 2-epoch seed alone, not 1 + 2 epochs as n=2
    assert "Left out 2 stored cell(s) so that each row holds one setting" in note
    assert "seed 1" in note and "other setting, max_epochs 1 (table: 2)" in note
    assert main(["report", "--suite", "table2", "--workdir", str(store)]) == 0  # a deliberate choice, not a loss


def test_other_test_items_are_another_setting_not_a_crash(store):
    assert bench_run(store, "--limit", "30", seeds="1") == 0  # --limit given twice: the last one wins
    note = (store / "reports" / "table2" / "table.md").read_text()
    assert table_row(store)["n_seeds"] == 1
    assert "other setting" in note and "limit 40 (table: 30)" in note


def test_identity_changes_with_every_setting_and_is_one_dict():
    import torch

    from benchmark.cells import cell_identity, identity_key, setting_key

    base = dict(model="coolant", variant="default", config={"max_epochs": 1}, dataset="synthetic-demo",
                data_fingerprint="a", split="random", cluster_unit="image",
                encoders={"text": "minilm", "image": "effnet"}, seed=0, protocol="clean", limit=40,
                precision="fp32")
    key = identity_key(cell_identity(**base))
    changes = {"config": {"max_epochs": 2}, "data_fingerprint": "b", "limit": 30, "protocol": "as-released",
               "precision": "bf16", "variant": "no_itm", "split": "grouped", "cluster_unit": "event",
               "design": {"fold": 0, "folds": 5}}
    for name, value in changes.items():
        assert identity_key(cell_identity(**{**base, name: value})) != key, name
    # no design keys: the identity of cells stored before evaluation designs existed
    assert identity_key(cell_identity(**{**base, "design": None})) == key
    other_seed = cell_identity(**{**base, "seed": 1})
    assert identity_key(other_seed) != key and setting_key(other_seed) == setting_key(cell_identity(**base))


# 2. arguments validated at parse time ----------------------------------------------------------------
@pytest.mark.parametrize("flag,value,message", [
    ("--max-epochs", "0", "argument --max-epochs: must be at least 1, got 0"),
    ("--max-epochs", "-3", "argument --max-epochs: must be at least 1, got -3"),
    ("--seeds", "0", "argument --seeds: must be at least 1, got 0"),
    ("--limit", "0", "argument --limit: must be at least 1, got 0; leave --limit out for no cap"),
    ("--limit", "-5", "argument --limit: must be at least 1, got -5"),
    ("--limit", "ten", "argument --limit: expected a whole number, got 'ten'"),
])
def test_bad_numbers_exit_2_at_parse_time(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--suite", "table2", "--workdir", str(tmp_path / "w"), flag, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("args,message", [
    (["--row", "W/O ITM"], "--row: suite table2: Unknown row 'W/O ITM'. Did you mean 'w/o ITM'? Known rows: COOLANT,"),
    (["--dataset", "twiter"], "--dataset: suite table2: Unknown dataset slot 'twiter'. Did you mean 'twitter'?"),
])
def test_unknown_row_or_slot_exits_2_naming_the_fix(tmp_path, capsys, args, message):
    assert main(["run", "--suite", "table2", "--workdir", str(tmp_path / "w"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_bad_data_root_is_an_error_never_a_silent_synthetic_run(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    (tmp_path / "empty").mkdir()
    for root, message in ((tmp_path / "absent", "does not exist"), (a_file, "is a file, not a folder"),
                          (tmp_path / "empty", "holds none of this suite's datasets (looked for")):
        assert main(["run", *BASE, "--workdir", str(tmp_path / "w"), "--data-root", str(root)]) == 2
        err = capsys.readouterr().err
        assert message in err, err
    # only the slots asked for (--dataset twitter) are looked for
    assert f"{tmp_path / 'empty'}/mediaeval2016" in err and "weibo" not in err
    assert not (tmp_path / "w").exists()


# 3. one writer per work directory --------------------------------------------------------------------
def test_a_second_writer_is_refused_naming_the_holder(store, capsys):
    from benchmark.workdir_lock import workdir_lock
    before = len(cells(store))
    with workdir_lock(store, "bench run --suite table2 (test holder)"):
        assert bench_run(store, epochs="2") == 2
    err = capsys.readouterr().err
    assert f"is in use by pid {os.getpid()} on {socket.gethostname()} (bench run --suite table2 (test holder)" in err
    assert len(cells(store)) == before  # nothing trained, nothing duplicated


def test_first_time_schema_setup_is_serialised(tmp_path):
    code = "import sys; from benchmark.tracking import Tracker; Tracker(sys.argv[1]).experiment_id('demo')"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "w")], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert len(Tracker(tmp_path / "w").client.search_experiments()) == 2  # Default + bench/demo, once


# 4. a moved work directory or a lost database ---------------------------------------------------------
def test_moved_workdir_keeps_its_table_and_its_finished_cells(store, capsys):
    table = (store / "reports" / "table2" / "table.md").read_text()
    moved = store.parent / "moved"
    store.rename(moved)
    assert main(["report", "--suite", "table2", "--workdir", str(moved)]) == 0
    assert (moved / "reports" / "table2" / "table.md").read_text() == table
    assert table_row(moved)["n_seeds"] == 2
    capsys.readouterr()
    assert bench_run(moved) == 0
    out = capsys.readouterr().out
    assert out.count("[skip]") == 2 and "[cell]" not in out
    assert not store.exists()  # nothing was written to the old location


def test_lost_database_never_overwrites_the_table(store, capsys):
    table = (store / "reports" / "table2" / "table.md").read_text()
    (store / "mlflow.db").unlink()
    assert main(["report", "--suite", "table2", "--workdir", str(store)]) == 2
    err = capsys.readouterr().err
    assert f"no MLflow store at {store / 'mlflow.db'} although {store / 'mlartifacts'} holds stored artifacts" in err
    assert bench_run(store) == 2
    assert "is missing but" in capsys.readouterr().err
    assert (store / "reports" / "table2" / "table.md").read_text() == table
    assert not (store / "mlflow.db").exists()


def test_report_refuses_to_shrink_a_table_without_saying_so(store, capsys):
    table = (store / "reports" / "table2" / "table.md").read_text()
    (finished_folders(store)[1] / "predictions.csv").unlink()
    assert main(["report", "--suite", "table2", "--workdir", str(store)]) == 1
    err = capsys.readouterr().err
    assert "would hold 1 finished cell(s) instead of 2 (no longer in the store or damaged: COOLANT | twitter | seed 1)" in err
    assert (store / "reports" / "table2" / "table.md").read_text() == table
    assert main(["report", "--suite", "table2", "--workdir", str(store), "--allow-shrink"]) == 0
    assert "predictions.csv is missing" in (store / "reports" / "table2" / "table.md").read_text()


# 5. one bad artifact is named, never crashes or skews the report ----------------------------------------
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2 + 3])


def _random_bytes(path: Path) -> None:
    path.write_bytes(bytes(range(128, 256)) * 8)


def _flip_predictions(path: Path) -> None:
    frame = pd.read_csv(path)
    frame["y_pred"] = 1 - frame["y_pred"]
    frame.to_csv(path, index=False)


@pytest.mark.parametrize("damage,problem", [
    (_truncate, "predictions.csv"),
    (_random_bytes, "predictions.csv is not UTF-8 text"),
    (_flip_predictions, "but the run logged"),
])
def test_damaged_predictions_are_left_out_named_and_retrained(store, capsys, damage, problem):
    healthy = table_row(store)
    damage(finished_folders(store)[1] / "predictions.csv")
    assert main(["report", "--suite", "table2", "--workdir", str(store), "--allow-shrink"]) == 0  # figures too
    note = (store / "reports" / "table2" / "table.md").read_text()
    bad_run = next(r for r in cells(store, ("FINISHED",)) if r.data.tags["seed"] == "1").info.run_id[:8]
    assert f"COOLANT on twitter seed 1 (run {bad_run}): " in note and problem in note
    assert table_row(store)["n_seeds"] == 1
    capsys.readouterr()
    assert bench_run(store) == 0  # only the damaged cell is trained again
    out = capsys.readouterr().out
    assert out.count("[skip]") == 1 and out.count("[cell]") == 1 and f"[redo] COOLANT | Twitter | seed 1: stored run {bad_run}" in out
    assert table_row(store)["n_seeds"] == 2 and table_row(store)["mean"] == pytest.approx(healthy["mean"])


def test_doctor_finds_damage_and_orphans_and_repairs_them(store, capsys):
    _flip_predictions(finished_folders(store)[0] / "predictions.csv")
    tracker = Tracker(store)
    exp = tracker.experiment_id("table2")
    orphan = tracker.client.create_run(exp, tags={"kind": "cell", "row": "COOLANT", "dataset": "twitter",
                                                  "seed": "7", "pid": "999999999", "host": socket.gethostname()})
    assert main(["doctor", "--workdir", str(store)]) == 1
    out = capsys.readouterr().out
    assert "[table2] COOLANT on twitter seed 0 (run" in out and "predictions.csv gives test accuracy" in out
    assert f"(run {orphan.info.run_id[:8]}): left RUNNING by process 999999999" in out
    assert "Repair: `bench doctor --repair" in out
    assert main(["doctor", "--workdir", str(store), "--repair"]) == 0
    assert Tracker(store).client.get_run(orphan.info.run_id).info.status == "KILLED"
    assert main(["doctor", "--workdir", str(store)]) == 0
    assert "1 finished cell(s) verified, no RUNNING orphans" in capsys.readouterr().out
    assert bench_run(store) == 0
    assert main(["doctor", "--workdir", str(store)]) == 0
    assert "2 finished cell(s) verified" in capsys.readouterr().out


# 6. killed runs never stay RUNNING ---------------------------------------------------------------------
@pytest.mark.parametrize("how,code,said", [("sigterm", 143, "terminated by SIGTERM"),
                                           ("ctrl-c", 130, "interrupted (Ctrl-C)")])
def test_sigterm_and_ctrl_c_close_the_cell_in_one_line(store, capsys, monkeypatch, how, code, said):
    def killed(*args, **kwargs):
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler interrupts this
        raise KeyboardInterrupt

    monkeypatch.setattr("benchmark.engine.train_model", killed)  # execute_cell imports it when a cell trains
    previous = signal.getsignal(signal.SIGTERM)
    assert bench_run(store, epochs="2") == code
    err = capsys.readouterr().err
    assert err.strip() == (f"bench: {said}: cell 'COOLANT | Twitter | seed 0' closed as KILLED; finished cells are "
                           "kept; run the same command again to resume")
    assert signal.getsignal(signal.SIGTERM) == previous
    statuses = sorted(r.info.status for r in cells(store))
    assert statuses == ["FINISHED", "FINISHED", "KILLED"]
    parents = Tracker(store).client.search_runs([Tracker(store).experiment_id("table2")],
                                                filter_string="tags.kind = 'suite'", order_by=["attributes.start_time DESC"])
    assert [p.info.status for p in parents] == ["KILLED", "FINISHED"]  # newest first: this invocation
    assert said in parents[0].data.tags["error"]


def test_an_interrupt_between_two_statements_still_closes_the_cell(store, capsys, monkeypatch):
    class Clock:  # the first clock read after the cell's run is created is where the signal lands
        @staticmethod
        def time():
            raise KeyboardInterrupt("terminated by SIGTERM")

    monkeypatch.setattr(runner_mod, "time", Clock)
    assert bench_run(store, epochs="2") == 130
    assert "cell 'COOLANT | Twitter | seed 0' closed as KILLED" in capsys.readouterr().err
    assert sorted(r.info.status for r in cells(store)) == ["FINISHED", "FINISHED", "KILLED"]


def test_orphans_of_every_suite_are_closed_and_own_pid_is_not_proof_of_life(tmp_path):
    tracker = Tracker(tmp_path)
    parent = tracker.start_parent("demo", {"suite": "demo"}, {})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tracker.start_cell("demo", parent, "dead pid", {})
    tracker.set_tags(gone, {"pid": str(dead.pid)})
    # a run left by an earlier container whose process also had our pid: not started by this process
    reused = tracker.client.create_run(tracker.experiment_id("demo"),
                                       tags={"pid": str(os.getpid()), "host": socket.gethostname()}).info.run_id
    tracker.start_parent("other-suite", {"suite": "other-suite"}, {})
    status = {run_id: tracker.client.get_run(run_id).info.status for run_id in (gone, reused, parent)}
    assert status == {gone: "KILLED", reused: "KILLED", parent: "RUNNING"}  # our own live run untouched


# 7. feature cache integrity ----------------------------------------------------------------------------
def test_corrupt_and_unreadable_shards_are_deleted_and_recomputed(tmp_path, caplog):
    from benchmark.encoders.cache import FeatureCache
    from tests.benchmark.encoders.test_encoders_cache import CountingText

    enc = CountingText()
    cache = FeatureCache(tmp_path)
    good = cache.get_text(enc, ["alpha", "beta"])
    directory = cache.directory_for(enc.identity)
    [shard] = list(directory.glob("shard-*.pt"))
    data = bytearray(shard.read_bytes())
    data[-200] ^= 0xFF  # inside the tensor data: torch.load would succeed and serve wrong numbers
    shard.write_bytes(bytes(data))
    (directory / "shard-0000.pt").write_bytes(b"not a torch file")
    enc.calls = 0
    again = FeatureCache(tmp_path).get_text(enc, ["alpha", "beta"])
    assert enc.calls == 1 and enc.seen[-2:] in (["alpha", "beta"], ["beta", "alpha"])
    assert not shard.exists() and not (directory / "shard-0000.pt").exists()
    assert "corrupt feature shard deleted (its bytes do not match the checksum" in caplog.text
    import torch
    torch.testing.assert_close(again.pooled, good.pooled)


def test_stale_temporaries_are_removed_fresh_ones_kept(tmp_path):
    from benchmark.encoders.cache import STALE_TMP_SECONDS, FeatureCache
    from tests.benchmark.encoders.test_encoders_cache import CountingText

    enc = CountingText()
    directory = FeatureCache(tmp_path).directory_for(enc.identity)
    directory.mkdir(parents=True)
    stale, fresh = directory / ".shard-old.pt.tmp", directory / ".shard-new.pt.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))
    FeatureCache(tmp_path).get_text(enc, ["alpha"])
    assert not stale.exists() and fresh.exists()


# 8. security -------------------------------------------------------------------------------------------
def test_image_references_outside_the_dataset_folder_are_refused(tmp_path):
    from benchmark.data.novemofake import load_novemofake
    from benchmark.data.spec import LoadOptions
    from tests.benchmark.data.test_data_b_novemofake import image, many, write_novemofake

    records = many(20)
    secret = tmp_path / "secret.png"
    image(secret)
    records[2]["target_image"] = "../secret.png"
    records[4]["target_image"] = str(secret)
    root = write_novemofake(tmp_path / "novemofake", [r for r in records])
    splits = load_novemofake(root, LoadOptions())
    refused = [p for p in splits.problems if "points outside the dataset folder" in p.reason]
    assert {(p.line, p.item_id) for p in refused} == {(3, "t2"), (5, "t4")}
    assert "image reference '../secret.png' points outside the dataset folder" in refused[0].reason
    assert all(secret.resolve() not in [p.resolve() for p in item.image_paths] for _, item in splits.items())


def test_sweep_workers_get_a_storage_password_through_the_environment():
    from benchmark.sweep_cli import STORAGE_ENV, storage_secret
    from benchmark.sweep_cli import worker_argv as _worker_argv

    args = argparse.Namespace(model="coolant", variant="default", dataset="synthetic-demo", trials=2, study="s",
                              metric="val_accuracy", seed=0, device="cpu", heartbeat_interval=60, grace_period=180,
                              on_missing_image="drop", max_epochs=1, limit=None, workdir=None, data_root=None,
                              tracking_uri=None, keep_humor=False)
    secret = "postgresql://bench:hunter2@db.example/optuna"
    argv = _worker_argv(args, secret, "parent")(0)
    assert storage_secret(secret) and not any("hunter2" in part for part in argv) and "--storage" not in argv
    plain = "journal:/tmp/x.log"
    assert _worker_argv(args, plain, "parent")(0)[_worker_argv(args, plain, "parent")(0).index("--storage") + 1] == plain
    assert STORAGE_ENV == "BENCH_SWEEP_STORAGE"


# 9. messages instead of tracebacks ----------------------------------------------------------------------
def test_damaged_database_is_a_message(store, capsys):
    (store / "mlflow.db").write_bytes(os.urandom(4096))
    assert main(["report", "--suite", "table2", "--workdir", str(store)]) == 2
    assert f"{store / 'mlflow.db'} is not an SQLite database" in capsys.readouterr().err
    db = store / "mlflow.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))  # right header, garbage pages
    assert main(["doctor", "--workdir", str(store)]) == 1
    captured = capsys.readouterr()
    assert "the store is damaged (SQLite integrity_check failed); nothing was changed" in captured.out
    assert "Traceback" not in captured.err + captured.out
    assert main(["report", "--suite", "table2", "--workdir", str(store)]) == 2
    err = capsys.readouterr().err
    assert f"{db} is damaged (SQLite quick_check: " in err and "Traceback" not in err


def _damage_page(db: Path, table: str) -> None:
    """Overwrite the first page of ``table``'s b-tree with garbage (the header stays valid)."""
    import sqlite3
    with sqlite3.connect(db) as connection:
        root = connection.execute("select rootpage from sqlite_master where name = ?", (table,)).fetchone()[0]
        size = connection.execute("pragma page_size").fetchone()[0]
    connection.close()
    with db.open("r+b") as handle:
        handle.seek((root - 1) * size)
        handle.write(b"\xde\xad\xbe\xef" * (size // 4))


def test_a_damaged_store_is_refused_unchanged_and_restored_from_the_automatic_backup(store, capsys):
    import hashlib
    db = store / "mlflow.db"
    assert bench_run(store) == 0  # a run that writes backs the store up first
    copies = sorted((store / "backups").glob("mlflow-*.db"))
    assert len(copies) == 1 and "[store] backed up mlflow.db to " in capsys.readouterr().out
    _damage_page(db, "tags")
    before = hashlib.md5(db.read_bytes()).hexdigest()
    assert bench_run(store) == 2
    err = capsys.readouterr().err
    assert "is damaged (SQLite quick_check: " in err and "nothing was written" in err
    assert f"`bench doctor --restore --workdir {store}` puts back the newest sound backup (of 1 in " in err
    assert hashlib.md5(db.read_bytes()).hexdigest() == before  # refused without a write
    assert main(["doctor", "--workdir", str(store)]) == 1
    assert "integrity_check failed" in capsys.readouterr().out
    assert hashlib.md5(db.read_bytes()).hexdigest() == before
    assert main(["doctor", "--restore", "--workdir", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"restored {db} from the backup {copies[0]}" in out and "the store is healthy" in out
    aside = list(store.glob("mlflow.db.damaged-*"))
    assert len(aside) == 1 and hashlib.md5(aside[0].read_bytes()).hexdigest() == before  # kept, not deleted
    assert bench_run(store) == 0
    assert sorted(r.info.status for r in cells(store, ("FINISHED",))) == ["FINISHED", "FINISHED"]


def test_backups_keep_the_newest_three_and_restore_skips_damaged_ones(store):
    from benchmark.store_health import KEEP, NoSoundBackup, backup_store, backups, restore_store
    made = [backup_store(store) for _ in range(KEEP + 2)]
    assert backups(store) == sorted(made[-KEEP:], reverse=True) and not made[0].exists()
    _damage_page(backups(store)[0], "runs")  # the newest backup is damaged: the one before it is used
    used, aside = restore_store(store)
    assert used == backups(store)[1] and aside is not None and aside.exists()
    for copy in backups(store):
        _damage_page(copy, "runs")
    with pytest.raises(NoSoundBackup, match="no sound backup of .* damaged: mlflow-"):
        restore_store(store)
    _damage_page(store / "mlflow.db", "runs")
    assert backup_store(store) is None and len(backups(store)) == KEEP  # a damaged store pushes none out


def test_doctor_closes_a_suite_run_left_running_by_a_killed_parent(store, capsys):
    tracker = Tracker(store)
    exp = tracker.experiment_id("table2")
    parent = tracker.client.create_run(exp, run_name="table2 killed", tags={
        "kind": "suite", "pid": "999999999", "host": socket.gethostname()})
    assert main(["doctor", "--workdir", str(store)]) == 1
    assert f"[table2] suite run table2 killed (run {parent.info.run_id[:8]}): left RUNNING by process 999999999" \
        in capsys.readouterr().out
    assert main(["doctor", "--repair", "--workdir", str(store)]) == 0
    assert Tracker(store).client.get_run(parent.info.run_id).info.status == "KILLED"


def test_permission_error_is_a_message(tmp_path, capsys, monkeypatch):
    import benchmark.workdir_lock as lock_mod

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(lock_mod, "_open", denied)
    assert bench_run(tmp_path / "w") == 2
    assert f"bench: permission denied: {tmp_path / 'w' / '.lock'}: check the owner and mode" in capsys.readouterr().err


def test_a_bad_suite_file_breaks_only_itself(tmp_path, capsys):
    from benchmark.suites import SUITE_ERRORS, register_suite_folder

    (tmp_path / "mine.yaml").write_text("name: mine\ntitle: [unclosed\n")
    try:
        assert register_suite_folder(tmp_path) == []
        assert main(["list", "suites"]) == 0
        out = capsys.readouterr().out
        assert "table2" in out and "mine       BROKEN:" in out and "not valid YAML" in out
        assert main(["run", "--suite", "mine"]) == 2
        assert f"suite 'mine' could not be loaded: {tmp_path / 'mine.yaml'}: not valid YAML" in capsys.readouterr().err
    finally:
        SUITE_ERRORS.pop("mine", None)


def test_a_misspelt_model_in_a_suite_fails_before_featurising(tmp_path):
    from benchmark.registry import UnknownNameError, load_plugins
    from benchmark.loading import RunOptions
    from benchmark.suites.resolve import validate_run
    from benchmark.suites import parse_suite

    load_plugins()
    suite = parse_suite({"name": "typo", "title": "t", "rows": [{"label": "C", "model": "coolnat"}],
                         "datasets": [{"id": "twitter", "synthetic": "synthetic-demo"}]},
                        source=tmp_path / "typo.yaml")
    with pytest.raises(UnknownNameError, match=r"typo.yaml: row 'C': Unknown model 'coolnat'. Did you mean 'coolant'"):
        validate_run(suite, RunOptions(suite="typo", workdir=tmp_path / "w"))
