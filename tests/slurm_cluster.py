"""A throw-away single-node Slurm cluster (munged, slurmctld, slurmd) configured in a temporary folder.

Why: the Slurm executor must be tested against a real scheduler (sbatch, squeue, scancel, job
states), not a mock. Everything lives under one folder (keys, sockets, state, logs); every daemon is
started with bounded waits and stopped by ``stop()``. ``SLURM_CONF`` points client commands at it.
Also runnable by hand: ``python tests/slurm_cluster.py /tmp/cluster`` starts one and prints the
environment to export (stop it with ``kill`` on the printed pids).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from postgres_server import free_port  # noqa: E402

DAEMONS = ("munged", "slurmctld", "slurmd")


def _which(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
                                      None)


def missing_binaries() -> list[str]:
    """Binaries the cluster needs that this machine lacks (apt-get install -y slurm-wlm munge)."""
    return [name for name in (*DAEMONS, "sbatch", "squeue", "scancel", "mungekey") if _which(name) is None]


@dataclass
class SlurmCluster:
    """One node named after this host, CPUs=``cpus``, partition ``debug``; ``env`` for client commands."""

    root: Path
    cpus: int = 2
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60.0) -> "SlurmCluster":
        if os.geteuid() != 0:
            raise RuntimeError("the test cluster runs slurmd as root (SlurmUser=root); run the tests as root")
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        munge = self.root / "munge"
        os.chmod(munge, 0o700)
        key, sock = munge / "munge.key", munge / "munge.socket"
        subprocess.run([_which("mungekey"), "--create", f"--keyfile={key}", "--force"], check=True,
                       capture_output=True, timeout=30)
        os.chmod(key, 0o400)
        self._spawn("munged", [_which("munged"), "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
                               f"--pid-file={munge / 'munged.pid'}", f"--log-file={self.root / 'log/munged.log'}",
                               f"--seed-file={munge / 'munged.seed'}"])
        self._wait(lambda: sock.exists(), timeout, "munged socket")
        host = socket.gethostname().split(".")[0]
        self.conf.write_text(f"""\
ClusterName=benchtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={self.root / 'state'}
SlurmdSpoolDir={self.root / 'spool'}
SlurmctldPidFile={self.root / 'slurmctld.pid'}
SlurmdPidFile={self.root / 'slurmd.pid'}
SlurmctldLogFile={self.root / 'log/slurmctld.log'}
SlurmdLogFile={self.root / 'log/slurmd.log'}
PlugStackConfig={self.root / 'plugstack.conf'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=3
SchedulerParameters=sched_interval=1
NodeName={host} NodeAddr=127.0.0.1 CPUs={self.cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        (self.root / "plugstack.conf").write_text("")
        os.environ.update(self.env)
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf)])
        self._wait(self._node_idle, timeout, "the node to be idle (sinfo)")
        return self

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.stdout", "wb")
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                env={**os.environ, **self.env}, start_new_session=True)

    def _node_idle(self) -> bool:
        out = subprocess.run([_which("sinfo") or "sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                             timeout=10, env={**os.environ, **self.env})
        return out.returncode == 0 and out.stdout.strip().startswith("idle")

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode} while waiting for {what}; "
                                       f"see {self.root / 'log'}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}; logs:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted((self.root / "log").glob("*")) if p.is_file())

    def stop(self) -> None:
        """Terminate every daemon this cluster started (SIGTERM, then SIGKILL after 10 s)."""
        subprocess.run([_which("scancel") or "scancel", "--full", "--quiet", "--partition=debug"],
                       capture_output=True, timeout=10, env={**os.environ, **self.env})
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


if __name__ == "__main__":
    cluster = SlurmCluster(Path(sys.argv[1])).start()
    print(f"export SLURM_CONF={cluster.conf}")
    print("pids: " + " ".join(f"{n}={p.pid}" for n, p in cluster.processes.items()))
