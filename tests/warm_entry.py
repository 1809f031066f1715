"""A pre-imported `python run.py` for the tests: imports once, then forks one child per run.

About 200 tests start run.py, and each start spends ~6 s (more on a busy machine) importing torch,
Lightning (which imports all of torchmetrics, and with it transformers and torch._dynamo) and Hydra before
the run does anything. This server pays that once per pytest worker. For each request (a JSON line on
stdin: args, cwd, env, umask, stdout and stderr files) it forks; the child takes the request's cwd,
environment, umask, argv and standard streams and runs run.py as `__main__` (runpy), then exits as the
interpreter exits after `python run.py ARGS` (SystemExit's code, 1 after an uncaught exception, atexit
handlers and non-daemon threads seen to). The server answers two lines: the child's pid, then its exit
code (negative: the signal).

Only what `import` did is shared: nothing here computes (no torch thread pool exists to be forked), and
the client (conftest.WarmEntry) starts a new server when a run's environment differs from the one this
server imported under, since some libraries read the environment at import (Lightning's rank, the hub's
offline flags).
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_PY = ROOT / "run.py"


def serve() -> dict:
    """Answer requests until stdin closes (then exit); returns, in a forked child only, its request."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # a stray print of an import goes to stderr, never into the protocol
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            protocol.close()
            return request
        protocol.write(f"{pid}\n")
        _, status = os.waitpid(pid, 0)
        protocol.write(f"{os.waitstatus_to_exitcode(status)}\n")
    sys.exit(0)


def become(request: dict) -> None:
    """Turn this forked child into `python run.py ARGS` started from cwd with env and the two files."""
    os.chdir(request["cwd"])
    os.umask(request["umask"])  # the client's, as a child of it would have (its files' permissions)
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, (path, flags) in enumerate(
        [(os.devnull, os.O_RDONLY), (request["stdout"], os.O_WRONLY), (request["stderr"], os.O_WRONLY)]
    ):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - the child's stdin, as with subprocess.run
    sys.argv = [str(RUN_PY), *request["args"]]


if __name__ == "__main__":
    # sys.path as `python /abs/run.py` has it: the script's folder first (then PYTHONPATH, site-packages).
    sys.path[0] = str(ROOT)
    # run.py imports Lightning inside main, after Hydra has given the root logger its handlers; Lightning
    # then logs through them (without, it adds its own stderr handler and stops propagating).
    placeholder = logging.NullHandler()
    logging.getLogger().addHandler(placeholder)
    import hydra  # noqa: F401, I001
    import labelsmooth.cli.train  # noqa: F401  (torch, Lightning, torchmetrics, transformers)
    import labelsmooth.tasks.image  # noqa: F401
    import labelsmooth.tasks.ner  # noqa: F401
    import labelsmooth.tasks.qa  # noqa: F401

    logging.getLogger().removeHandler(placeholder)
    become(serve())
    runpy.run_path(str(RUN_PY), run_name="__main__")
