"""How a run stops: a stop signal (Ctrl-C; SIGTERM from Colab, SLURM, systemd or ``timeout``;
SIGHUP when the terminal closes) becomes an interrupt in the main thread, so the run can put
its trials back to waiting before it ends, and says so with :class:`RunInterrupted`.

A terminal's Ctrl-C reaches every process of the run's process group. Only the run's main
process acts on it: the processes it starts (the job server, its jobs) are born
with SIGINT blocked (:func:`children_spared_ctrl_c`) and ended by the run, so none of them dies
half-way through an import with a traceback of its own.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Stopped(KeyboardInterrupt):
    """A stop signal, raised in the main thread so the run ends as on Ctrl-C. ``exit_code``
    is the shell's for the signal."""

    def __init__(self, signum: int, detail: str = "") -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}{detail}")
        self.signum = signum
        self.exit_code = 128 + signum


class RunInterrupted(Stopped):
    """The run was stopped; its trials wait again."""

    def __init__(self, released: int, signum: int = signal.SIGINT) -> None:
        super().__init__(
            signum,
            f": {released} running trial(s) put back to waiting; "
            "running the study again resumes it",
        )
        self.released = released


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Every stop signal raises :class:`Stopped` while the block runs; the handlers before it
    are back after it. Only the main thread can set handlers (and signals reach only it), so
    elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    _handle_stop_signals(_raise_stopped)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def children_spared_ctrl_c() -> Iterator[None]:
    """Processes started in the block are born with SIGINT blocked (a thread's signal mask
    passes through fork and exec, and Python keeps it): the run ends them itself. In this
    thread a SIGINT that comes meanwhile waits, and is handled as the block ends.

    The resource trackers of multiprocessing and loky start first, outside the block, because
    starting one unblocks SIGINT in the thread that starts it (their ``ensure_running`` ends
    with ``SIG_UNBLOCK`` instead of restoring the mask).
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to share a Ctrl-C
        yield
        return
    from multiprocessing import resource_tracker

    from joblib.externals.loky.backend import resource_tracker as loky_resource_tracker

    before = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    resource_tracker.ensure_running()
    loky_resource_tracker.ensure_running()
    signal.pthread_sigmask(signal.SIG_SETMASK, before | {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def ignore_stop_signals() -> None:
    """Stop signals do nothing from now on (a process that is already ending: a second Ctrl-C
    must not cut short the release of trials or the line that reports it)."""
    if threading.current_thread() is threading.main_thread():
        _handle_stop_signals(signal.SIG_IGN)


def _handle_stop_signals(handler) -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)
