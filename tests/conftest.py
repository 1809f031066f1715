"""Shared helpers: run the real entry point (`run.py` through Hydra) in a subprocess with tiny settings."""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The claims command as a user runs it: the console script pyproject installs beside this python.
CLAIMS_CMD = str(Path(sys.executable).parent / "labelsmooth-claims")

# A tiny NER job: random 2-layer BERT, a few synthetic sentences, one epoch.
TINY_NER = [
    "task=ner",
    "model=tiny",
    "data.n_train=48",
    "data.n_val=16",
    "data.n_test=16",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
]


def load_script(relative: str) -> ModuleType:
    """A script of the checkout outside the package (benchmarks/*.py) as a module, without putting its
    folder on sys.path: its name is namespaced (`script:<path>`), so no bare name leaks into sys.modules."""
    path = ROOT / relative
    name = f"script:{relative}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the script runs
    spec.loader.exec_module(module)
    return module


def entry_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a run.py the tests start: W&B offline and quiet, Hydra's short errors, and
    tests/support importable, so a test can add a drill callback (`+callbacks.x._target_=…`)."""
    base = dict(os.environ if base is None else base)
    path = os.pathsep.join(p for p in (str(ROOT / "tests" / "support"), base.get("PYTHONPATH")) if p)
    return base | {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "HYDRA_FULL_ERROR": "0",
        "PYTHONPATH": path,
    }


def entry_command(args: list[str]) -> list[str]:
    """`python run.py ARGS`, this python and the checkout's run.py."""
    return [sys.executable, str(ROOT / "run.py"), *args]


def start_entry(args: list[str], cwd: Path, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """`python run.py ARGS` from `cwd`, started and left running (text pipes; `popen` as subprocess.Popen)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE} | popen
    return subprocess.Popen(entry_command(args), cwd=cwd, env=env or entry_env(), text=True, **popen)


def run_entry(
    args: list[str], cwd: Path, check: bool = True, timeout: int = 300
) -> subprocess.CompletedProcess:
    """`python run.py ARGS` from `cwd` (entry_env); a failed job fails the test with its output.

    It runs as a child forked from this worker's pre-imported interpreter (tests/warm_entry.py), which
    saves each start ~6 s of imports; with LABELSMOOTH_TESTS_COLD=1, as a new `python run.py` process."""
    env = entry_env()
    if os.environ.get("LABELSMOOTH_TESTS_COLD"):
        WarmEntry.counts["cold"] += 1
        command = entry_command(args)
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    else:
        proc = WarmEntry.run(args, cwd, env, timeout)
    if check and proc.returncode != 0:
        pytest.fail(
            f"run.py {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


class WarmEntry:
    """This worker's tests/warm_entry.py server: started at the first run_entry under that run's
    environment, started again when a run's environment differs (some libraries read it at import:
    Lightning's rank, the hub's offline flags), closed at exit."""

    server: subprocess.Popen | None = None
    env: dict[str, str] = {}  # the environment the server imported under
    buffer = b""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's stderr, open as long as this worker
    counts = {"forked": 0, "imports": 0, "cold": 0}  # reported at the session's end

    @staticmethod
    def _key(env: dict[str, str]) -> dict[str, str]:
        """env without pytest's name of the current test, which changes per test and no import reads."""
        return {k: v for k, v in env.items() if k != "PYTEST_CURRENT_TEST"}

    @classmethod
    def _start(cls, env: dict[str, str]) -> None:
        if cls.server is not None and cls.server.poll() is None:
            cls.server.stdin.close()  # its loop ends, and so does it
            cls.server.wait()
        command = [sys.executable, str(ROOT / "tests" / "warm_entry.py")]
        cls.log.seek(0)
        cls.log.truncate()
        cls.server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=cls.log,  # its own errors (an import that fails), named if it ends
            bufsize=0,
        )
        cls.env, cls.buffer = cls._key(env), b""
        cls.counts["imports"] += 1
        atexit.register(cls.server.stdin.close)

    @classmethod
    def run(
        cls, args: list[str], cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess:
        if cls.server is None or cls.server.poll() is not None or cls._key(env) != cls.env:
            cls._start(env)
        cls.counts["forked"] += 1
        with tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            out.touch()
            err.touch()
            umask = os.umask(0o022)
            os.umask(umask)  # read back: a process's umask is read only by setting it
            request = {"args": args, "cwd": str(cwd), "env": env, "umask": umask}
            request |= {"stdout": str(out), "stderr": str(err)}
            cls.server.stdin.write((json.dumps(request) + "\n").encode())
            deadline = time.monotonic() + timeout
            try:
                pid = int(cls._line(deadline))
            except subprocess.TimeoutExpired:  # still importing: its answers would reach the next run
                cls.server.kill()
                cls.server.wait()
                raise subprocess.TimeoutExpired(["run.py", *args], timeout) from None
            try:
                code = int(cls._line(deadline))
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)  # the server's child, not yet reaped: this pid is still it
                cls._line(time.monotonic() + 60)
                raise subprocess.TimeoutExpired(["run.py", *args], timeout) from None
            return subprocess.CompletedProcess(entry_command(args), code, out.read_text(), err.read_text())

    @classmethod
    def _line(cls, deadline: float) -> str:
        """The server's next line, waiting no later than deadline."""
        fd = cls.server.stdout.fileno()
        while b"\n" not in cls.buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise subprocess.TimeoutExpired("tests/warm_entry.py", deadline)
            chunk = os.read(fd, 4096)
            if not chunk:
                code = cls.server.wait()
                cls.log.seek(0)
                tail = cls.log.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"tests/warm_entry.py ended (exit {code}):\n{tail}")
            cls.buffer += chunk
        line, _, cls.buffer = cls.buffer.partition(b"\n")
        return line.decode()


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def run_notebook(sweep: Path) -> str:
    """Execute notebooks/sweep_analysis.ipynb on `sweep` (as a user would); the text its cells printed."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / "sweep_analysis.ipynb", as_version=4)
    os.environ["LABELSMOOTH_SWEEP"] = str(sweep)
    try:
        NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    finally:
        del os.environ["LABELSMOOTH_SWEEP"]
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


# --- no test writes into the checkout ----------------------------------------------------------------------
# Tests and the scripts they run write under tmp_path; what appears in the repository during a session (a
# data/ cache, an outputs/ folder, a stray None/) fails the session. Python's and the tools' own caches are
# exempt. Checked once, by the process that runs the session (the xdist controller).
EXEMPT = ("__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".venv", ".egg-info")


def _checkout_entries() -> set[str] | None:
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout: nothing to compare
    return {line[3:] for line in out.splitlines() if not any(part in line for part in EXEMPT)}


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        session.config.stash[_BEFORE] = _checkout_entries()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        session.config.workeroutput["warm_entry"] = WarmEntry.counts  # to the controller (xdist)
        return
    _add_warm_counts(session.config, WarmEntry.counts)  # this process's own runs (-n 0)
    before, after = session.config.stash.get(_BEFORE, None), _checkout_entries()
    if before is None or after is None:
        return
    if new := sorted(after - before):
        print(f"\nthe tests wrote into the checkout {ROOT}: {', '.join(new[:10])}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set | None]()


# --- how run_entry started its runs: forked, and from how many imports (a check that the warm entry works) -
_WARM = pytest.StashKey[dict]()


def _add_warm_counts(config: pytest.Config, counts: dict[str, int]) -> None:
    totals = config.stash.setdefault(_WARM, dict.fromkeys(WarmEntry.counts, 0))
    for key, n in counts.items():
        totals[key] += n


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # noqa: ANN001 - xdist's worker node
    _add_warm_counts(node.config, node.workeroutput.get("warm_entry", {}))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    t = config.stash.get(_WARM, {})
    if any(t.values()):
        terminalreporter.write_line(
            f"run_entry: {t['forked']} runs forked from {t['imports']} imports (tests/warm_entry.py), "
            f"{t['cold']} started as new processes (LABELSMOOTH_TESTS_COLD)"
        )
