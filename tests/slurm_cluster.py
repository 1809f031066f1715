"""A real one-node SLURM on this machine, for tests/test_slurm.py: Debian's packages, daemons started by hand.

`cluster(folder)` installs what is missing (`apt-get`, as root), writes every file the daemons read into
`folder` (configs, munge key, state, spool, logs, pid files, the accounting database), starts munged,
MariaDB, slurmdbd, slurmctld and slurmd in the foreground as children of this process (no systemd needed),
waits until the node is idle, and at the end cancels what is still queued and stops exactly the daemons it
started. Nothing is written to /etc or /var: client commands find this cluster through `SLURM_CONF`, which
`Cluster.env` sets, so any other SLURM on the machine is left alone. The packages stay installed.

Accounting (slurmdbd on MariaDB) is not optional: submitit learns that a job ended without a result
(cancelled, killed) only from `sacct`, so without it a multirun waits for such a job forever.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from slurm_config import CLUSTER_NAME, write_configs

# What `apt-get install` brings: the daemons and clients, munge (authentication), slurmdbd and the MariaDB
# server binary behind it (the -core package: no init scripts, no Perl tools, nothing started at install).
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server-core"]
PROGRAMS = [
    "munged",
    "mariadbd",
    "slurmdbd",
    "slurmctld",
    "slurmd",
    "sbatch",
    "sacct",
    "sacctmgr",
    "scontrol",
]
PARTITION = "lab"


class Unavailable(Exception):
    """SLURM cannot be installed or started here; the message is the one-line reason the tests skip with."""


def _which(name: str) -> str | None:
    # Daemons live in /usr/sbin, which a non-login PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def install() -> float:
    """Install the packages if a program is missing; the seconds it took (0 when all were there)."""
    if all(_which(p) for p in PROGRAMS):
        return 0.0
    # Installing system packages is the choice of whoever runs the tests: CI (CI=true) makes it, a person
    # opts in with LABELSMOOTH_INSTALL_SLURM=1; otherwise the SLURM tests skip, saying so.
    if not (os.environ.get("CI") == "true" or os.environ.get("LABELSMOOTH_INSTALL_SLURM") == "1"):
        raise Unavailable(
            f"SLURM is not installed; LABELSMOOTH_INSTALL_SLURM=1 lets the tests apt-get install {PACKAGES}"
        )
    if not shutil.which("apt-get"):
        raise Unavailable(f"SLURM is not installed and there is no apt-get to install {PACKAGES}")
    start = time.monotonic()
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    # A fresh machine may have no package lists yet; a stale list fails the install instead.
    steps = [
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES],
    ]
    for step in steps:
        proc = subprocess.run(step, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise Unavailable(f"`{' '.join(step[:2])}` failed: {last}")
    missing = [p for p in PROGRAMS if not _which(p)]
    if missing:
        raise Unavailable(f"installed {PACKAGES} but these are still missing: {missing}")
    return time.monotonic() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def node_line() -> str:
    """This machine as slurmd sees it (`slurmd -C`: CPUs, sockets, cores, threads, RealMemory in MB), so
    the node is not drained for having less than slurm.conf claims, and jobs may use all of it."""
    out = subprocess.run([_which("slurmd") or "slurmd", "-C"], capture_output=True, text=True)
    line = (out.stdout.splitlines() or [""])[0]
    if out.returncode != 0 or not line.startswith("NodeName="):
        raise Unavailable(f"`slurmd -C` printed no node line: {(out.stdout + out.stderr)[:200]!r}")
    return line


@dataclass
class Cluster:
    folder: Path
    node: str
    partition: str = PARTITION
    started_s: float = 0.0
    installed_s: float = 0.0
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.folder / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment client commands (and jobs, which inherit it from sbatch) need for this cluster."""
        path = os.pathsep.join(p for p in (os.environ.get("PATH"), "/usr/sbin", "/sbin") if p)
        return os.environ | {"SLURM_CONF": str(self.conf), "PATH": path}

    def run(self, *command: str, check: bool = True, timeout: float = 30) -> str:
        proc = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.folder / "log" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-n", self.node, "-o", "%T", check=False).strip()

    def queue(self) -> list[str]:
        """`jobid state` of every job slurmctld still holds as pending or running."""
        out = self.run("squeue", "-h", "-o", "%i %T", check=False)
        return [line for line in out.splitlines() if line.strip()]

    def accounting(self, job: str) -> list[dict[str, str]]:
        """Every allocation of `job` as recorded by slurmdbd (`--duplicates`: one row per requeued run)."""
        fields = "JobID,State,ExitCode,Start,End,Elapsed"
        out = self.run("sacct", "-j", job, "-X", "-D", "-n", "-P", "-o", fields, check=False)
        names = fields.split(",")
        return [dict(zip(names, line.split("|"), strict=True)) for line in out.splitlines() if line]

    def states(self, job: str, timeout: float = 60) -> list[str]:
        """The state of each allocation of `job` once it has ended. A multirun returns as soon as a job wrote
        its result, while SLURM may still be closing the job (RUNNING, COMPLETING) for a moment."""
        deadline = time.monotonic() + timeout
        while True:
            states = [row["State"] for row in self.accounting(job)]
            if states and states[-1] not in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED"):
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} has not ended after {timeout:.0f}s: {states}")
            time.sleep(0.5)


def _wait(
    what: str, ready: Callable[[], bool], timeout: float, tail: Callable[[], str], proc: subprocess.Popen
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            why = (
                f"exited {proc.returncode}"
                if proc.returncode is not None
                else f"not ready after {timeout:.0f}s"
            )
            last = [line for line in tail().splitlines() if line.strip()][-1:] or ["(no log)"]
            raise Unavailable(f"{what} {why}: {last[0].strip()}")
        time.sleep(0.2)


@contextmanager
def cluster(folder: Path) -> Iterator[Cluster]:
    """Start the one-node cluster in `folder` (short: it holds Unix sockets), yield it, stop it."""
    if sys.platform != "linux" or os.geteuid() != 0:
        raise Unavailable("not root on Linux: slurmd and munged run as root here")
    installed_s = install()
    start = time.monotonic()
    node_hw = node_line()
    node = node_hw.split()[0].removeprefix("NodeName=")
    c = Cluster(folder=folder, node=node, installed_s=installed_s)
    for sub in ("etc", "run", "log", "state", "spool", "db", "munge"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ports = {name: _free_port() for name in ("slurmctld", "slurmd", "slurmdbd", "mysql")}
    write_configs(c, ports, node_hw)
    key = folder / "munge" / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)  # munged refuses a key others can read

    def daemon(name: str, ready: Callable[[], bool], timeout: float, *command: str) -> None:
        """Start `command` in the foreground as our child and wait until `ready()`."""
        # Own session: a Ctrl-C in pytest reaches pytest, which then stops the daemons in order.
        with (folder / "log" / f"{name}.out").open("ab") as log:
            proc = subprocess.Popen(
                command, env=c.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        c.daemons[name] = proc

        def tail() -> str:
            return (folder / "log" / f"{name}.out").read_text(errors="replace") + c.log_tail(name)

        _wait(name, ready, timeout, tail, proc)

    try:
        run = folder / "run"
        daemon(
            "munged",
            (run / "munge.socket").exists,
            20,
            _which("munged") or "munged",
            "--foreground",
            "--force",  # root and a key in a temporary folder: munged would otherwise refuse to start
            f"--key-file={key}",
            f"--socket={run / 'munge.socket'}",
            f"--pid-file={run / 'munged.pid'}",
            f"--seed-file={folder / 'munge' / 'seed'}",
            f"--log-file={folder / 'log' / 'munged.log'}",
        )
        daemon(
            "mariadbd",
            lambda: _accepts(ports["mysql"]),
            60,
            _which("mariadbd") or "mariadbd",
            "--no-defaults",
            "--user=root",
            f"--datadir={folder / 'db'}",
            f"--socket={run / 'mysql.socket'}",
            f"--pid-file={run / 'mariadbd.pid'}",
            f"--log-error={folder / 'log' / 'mariadbd.log'}",
            "--bind-address=127.0.0.1",
            f"--port={ports['mysql']}",
            # A throwaway database on the loopback address: no users to set up, nothing to keep safe.
            "--skip-grant-tables",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
        )
        daemon("slurmdbd", lambda: _accepts(ports["slurmdbd"]), 60, _which("slurmdbd") or "slurmdbd", "-D")
        c.run("sacctmgr", "-i", "add", "cluster", CLUSTER_NAME, check=False)  # jobs are recorded under it
        # -D: foreground; -i: ignore saved state (a fresh cluster).
        slurmctld = _which("slurmctld") or "slurmctld"
        daemon("slurmctld", lambda: _accepts(ports["slurmctld"]), 30, slurmctld, "-D", "-i")
        slurmd = _which("slurmd") or "slurmd"
        daemon("slurmd", lambda: c.node_state() == "idle", 60, slurmd, "-D", "-N", c.node)
        c.started_s = time.monotonic() - start
        yield c
    finally:
        _stop(c)


def _stop(c: Cluster) -> None:
    """Cancel what is still queued, wait for it to end, then stop the daemons, last started first."""
    if "slurmctld" in c.daemons and c.daemons["slurmctld"].poll() is None:
        c.run("scancel", "--user=root", "--full", check=False)
        deadline = time.monotonic() + 30
        while c.queue() and time.monotonic() < deadline:
            time.sleep(0.5)
    for name in reversed(list(c.daemons)):
        proc = c.daemons[name]
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
