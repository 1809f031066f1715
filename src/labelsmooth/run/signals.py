"""Stop requests: SIGTERM (preemption, scancel), SIGINT (Ctrl-C) and a cluster's time-limit signal.

One owner for the whole job (train.py installs it, ExactResume defers it while training):
- outside training (data preparation, tokenisation, model building, final evaluation) a request stops the
  job at once: `Stopped`, exit 128 + signal number, no metrics.json — a tokenisation of SQuAD must not
  outlast SLURM's grace between SIGTERM and SIGKILL (KillWait, 30 s by default); a time limit there is
  requeued at once (the next allocation resumes from the newest last.ckpt, if any);
- while training, ExactResume saves last.ckpt at the next step boundary all ranks agree on, then stops;
- the time-limit signal is submitit's SIGUSR2 (sent `signal_delay_s` before a SLURM job's limit). After the
  save, the handler that was installed before ours (submitit's) gets it: submitit alone requeues the job,
  and the next allocation resumes from last.ckpt. Without such a handler it stops the job like SIGTERM.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

log = logging.getLogger(__name__)

TIME_LIMIT = signal.SIGUSR2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, TIME_LIMIT)


class Stopped(SIGTERMException):
    """A stop request acted on. A SystemExit (as Lightning's own SIGTERMException), so no `except Exception`
    in a library swallows it, and Lightning's loops treat it as their SIGTERM (callbacks' on_exception)."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class StopRequests:
    """The signals of one job: noted when they arrive, acted on at once or (`deferred`) by ExactResume."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferred = False
        self._stopping = False
        self._previous: dict[int, Any] = {}
        # Where a stop is passed on at once (rank 0 of a DDP job whose ranks it started: to them).
        self.forward: Callable[[int], None] | None = None

    @contextmanager
    def installed(self) -> Iterator[StopRequests]:
        """Our handler for every stop signal during the job; the previous handlers afterwards. After a job
        that finished (its metrics.json written), the time-limit signal is ignored instead: a limit reached
        while the process winds down has nothing to save, and submitit's handler would requeue a finished
        job (seen on a slow machine: a third allocation of a job whose second had written its result)."""
        self.signum, self.deferred, self._stopping, self.forward = None, False, False, None
        self._previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._note)
        finished = False
        try:
            yield self
            finished = True
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, signal.SIG_IGN if finished and sig == TIME_LIMIT else handler)

    def reinstall(self) -> None:
        """Our handler again where another took over (Lightning sets its own SIGTERM handler at fit start)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._note)

    def _note(self, signum: int, frame: Any) -> None:
        if self._stopping:
            # The job is already stopping: SLURM follows a requeue with more signals (SIGUSR2 again to the
            # steps, SIGTERM as it cancels them), which must not start a second requeue or a second save.
            return
        if self.signum is None:
            self.signum = signum
            log.warning("received %s", signal.Signals(signum).name)
        if not self.deferred:  # nothing to save: stop now (a time limit still goes to submitit to requeue)
            if self.forward is not None:  # every rank stops, none is left waiting in a collective
                self.forward(signum)
            self.stop(rank_zero_only.rank == 0)

    @contextmanager
    def held(self) -> Iterator[None]:
        """A block no stop may cut in half (moving a run folder's files aside): a signal that comes during
        it is noted and acted on when it ends."""
        was = self.deferred
        self.deferred = True
        try:
            yield
        finally:
            self.deferred = was
        if not was:
            self.raise_if_requested()

    def raise_if_requested(self) -> None:
        """Stop now if a signal came while deferred (between the phases of a job)."""
        if self.signum is not None:
            raise Stopped(self.signum)

    def stop(self, is_global_zero: bool) -> None:
        """Stop after last.ckpt was saved: hand the time-limit signal to the launcher's handler (rank 0
        requeues; it exits), else raise `Stopped`."""
        signum = self.signum if self.signum is not None else signal.SIGTERM
        self._stopping = True
        handler: Callable | Any = self._previous.get(signum)
        if signum == TIME_LIMIT and callable(handler) and is_global_zero:
            handler(signum, None)  # submitit: requeue the job, then sys.exit
        raise Stopped(signum)


# Signals are per process: one set of requests per process.
STOP = StopRequests()
