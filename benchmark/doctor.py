"""``bench doctor``: verify every stored cell of a work directory and say (or do) how to repair it.

Why: reports and resume already refuse damaged cells one at a time; the doctor gives the whole
picture at once (artifacts missing or altered, runs left RUNNING by a dead process) and, with
``--repair``, marks damaged cells FAILED (so ``bench run`` retrains exactly those) and closes orphans.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmark.artifacts import check_cell
from benchmark.store_health import check_database, store_file
from benchmark.tracking import Tracker, run_owner_gone, server_uri


@dataclass
class Finding:
    suite: str
    run_id: str
    cell: str
    problem: str
    repair: str  # what --repair does

    def __str__(self) -> str:
        return f"[{self.suite}] {self.cell} (run {self.run_id[:8]}): {self.problem}"


def examine(tracker: Tracker, suites: list[str] | None = None) -> tuple[int, list[Finding]]:
    """(cells checked, findings) over every ``bench/<suite>`` experiment (or only ``suites``)."""
    findings: list[Finding] = []
    checked = 0
    for exp in tracker.client.search_experiments():
        if not exp.name.startswith("bench/"):
            continue
        suite = exp.name[len("bench/"):]
        if suites and suite not in suites:
            continue
        for run in _runs(tracker, exp.experiment_id):
            t = run.data.tags
            if t.get("kind") == "suite":
                cell = f"suite run {run.info.run_name or suite}"
            else:
                cell = f"{t.get('row', run.info.run_name)} on {t.get('dataset', '?')} seed {t.get('seed', '?')}"
            if run.info.status == "FINISHED" and t.get("kind") == "cell":
                checked += 1
                metrics = {k[len("test_"):]: v for k, v in run.data.metrics.items() if k.startswith("test_")}
                check = check_cell(tracker.artifact_path(run), metrics)
                if not check.ok:
                    findings.append(Finding(suite, run.info.run_id, cell, "; ".join(check.problems), "fail"))
            elif run.info.status == "RUNNING":
                if run_owner_gone(run.info.run_id, t.get("host"), t.get("pid")):
                    findings.append(Finding(suite, run.info.run_id, cell, f"left RUNNING by process {t.get('pid')} "
                                            f"on {t.get('host')}, which is gone", "close"))
    return checked, findings


def _runs(tracker: Tracker, experiment_id: str) -> list:
    """Cell runs and the suite (parent) runs of each invocation: a killed ``bench run`` leaves both RUNNING."""
    return [run for kind in ("cell", "suite")
            for run in tracker.client.search_runs([experiment_id], filter_string=f"tags.kind = '{kind}'",
                                                  max_results=50000)]


def run_doctor(workdir: Path, suites: list[str] | None = None, repair: bool = False,
               say: Callable[[str], None] = print) -> int:
    """Print every finding; with ``repair`` fix them. 0 when the store is (now) healthy, else 1.
    A work directory's SQLite file must first pass ``integrity_check`` (no repair writes a damaged file)."""
    if not server_uri():
        db = store_file(workdir)
        problems = check_database(db, full=True) if db.is_file() else []
        if problems:
            for problem in problems[:5]:
                say(f"[doctor] {db}: {problem}")
            if len(problems) > 5:
                say(f"[doctor] ... and {len(problems) - 5} more finding(s) of SQLite's integrity_check")
            say(f"[doctor] the store is damaged (SQLite integrity_check failed); nothing was changed. "
                f"`bench doctor --restore --workdir {workdir}` puts back the newest sound backup "
                f"(the damaged file is kept beside it)")
            return 1
    tracker = Tracker(Path(workdir))
    checked, findings = examine(tracker, suites)
    for finding in findings:
        say(f"[doctor] {finding}")
    if not findings:
        say(f"[doctor] {workdir}: {checked} finished cell(s) verified, no RUNNING orphans (cells or suite runs)"
            + ("" if tracker.tracking_uri else ", SQLite integrity_check ok") + ": the store is healthy")
        return 0
    if not repair:
        say(f"[doctor] {len(findings)} problem(s) in {workdir}. Repair: `bench doctor --repair --workdir {workdir}` "
            "marks damaged cells FAILED and closes orphans; then `bench run` with the same arguments retrains "
            "exactly the damaged cells")
        return 1
    for finding in findings:
        reason = f"bench doctor: {finding.problem}"[:4000]
        tracker.set_tags(finding.run_id, {"error": reason})
        tracker.end(finding.run_id, "FAILED" if finding.repair == "fail" else "KILLED")
    say(f"[doctor] repaired {len(findings)} run(s): damaged cells marked FAILED, orphans KILLED; "
        "re-run `bench run` with the same arguments to retrain the damaged cells")
    return 0
