"""labelsmooth.run.signals: one owner of the stop signals of a job (the cases run.py jobs do not reach)."""

from __future__ import annotations

import os
import signal

import pytest

from labelsmooth.run.signals import TIME_LIMIT, Stopped, StopRequests


def test_a_signal_outside_training_stops_at_once_and_the_handlers_come_back():
    stop = StopRequests()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as err, stop.installed():
        os.kill(os.getpid(), signal.SIGTERM)
    assert err.value.code == 143 and err.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_while_deferred_a_signal_is_only_noted():
    stop = StopRequests()
    with stop.installed():
        stop.deferred = True
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signum == signal.SIGINT
        with pytest.raises(Stopped) as err:
            stop.raise_if_requested()
    assert err.value.code == 130


def test_a_time_limit_goes_to_the_launchers_handler_once_however_many_signals_follow():
    """submitit requeues in its SIGUSR2 handler; SLURM then signals the job's steps again (SIGUSR2, SIGTERM
    as it cancels them). A second requeue of a job already requeued fails (`scontrol requeue` exits 1) and
    turned a requeued job into a failed one: the signals that follow are ignored."""
    calls = []

    def submitit(signum, frame):  # requeues, meanwhile SLURM signals again, then exits
        calls.append(signum)
        os.kill(os.getpid(), TIME_LIMIT)
        os.kill(os.getpid(), signal.SIGTERM)
        raise SystemExit(-1)

    previous = signal.signal(TIME_LIMIT, submitit)
    try:
        stop = StopRequests()
        with pytest.raises(SystemExit) as err, stop.installed():
            os.kill(os.getpid(), TIME_LIMIT)
        assert err.value.code == -1 and calls == [TIME_LIMIT]
    finally:
        signal.signal(TIME_LIMIT, previous)


def test_a_stop_during_a_move_aside_waits_until_every_file_is_moved(tmp_path, monkeypatch):
    """rerun=true moves a folder's files into superseded/: a signal in the middle stops the job only after
    the last file, never with half the old run in each place."""
    import shutil

    import labelsmooth.run.folder as folder_module

    stop = StopRequests()
    monkeypatch.setattr(folder_module, "STOP", stop)
    for name in ("metrics.json", "a.png", "b.png"):
        (tmp_path / name).write_text(name)
    moved = []
    real_move = shutil.move

    def move_then_signal(src, dst):
        moved.append(src)
        if len(moved) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # lands in the middle of the move
        return real_move(src, dst)

    monkeypatch.setattr(folder_module.shutil, "move", move_then_signal)
    with pytest.raises(Stopped), stop.installed():
        folder_module.move_aside(tmp_path)
    assert len(moved) == 3 and sorted(p.name for p in tmp_path.iterdir()) == ["superseded"]


def test_after_a_finished_job_a_time_limit_is_ignored_and_after_a_stop_it_goes_to_the_launcher():
    """A limit reached as a finished job winds down must not requeue it (submitit's handler would); a job
    stopped by a signal hands the limit back to the handler that was there before."""
    stop, calls = StopRequests(), []
    launcher = lambda signum, frame: calls.append(signum)  # noqa: E731  (as submitit's handler)
    before = signal.signal(TIME_LIMIT, launcher)
    try:
        with stop.installed():
            pass  # the job finished
        assert signal.getsignal(TIME_LIMIT) is signal.SIG_IGN
        os.kill(os.getpid(), TIME_LIMIT)  # ignored: the process goes on, nothing is requeued
        assert calls == []
        signal.signal(TIME_LIMIT, launcher)
        with pytest.raises(Stopped), stop.installed():
            raise Stopped(signal.SIGTERM)
        assert signal.getsignal(TIME_LIMIT) is launcher
        assert signal.getsignal(signal.SIGTERM) is not stop._note
    finally:
        signal.signal(TIME_LIMIT, before)
