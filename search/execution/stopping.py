"""How a run stops: a stop signal (Ctrl-C; SIGTERM from Colab, SLURM, systemd or ``timeout``;
SIGHUP when the terminal closes) becomes an interrupt in the main thread, so the run can put
its trials back to waiting before it ends, and says so with :class:`RunInterrupted`."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped; its trials wait again. ``exit_code`` is the shell's for the signal."""

    def __init__(self, released: int, signum: int = signal.SIGINT) -> None:
        name = signal.Signals(signum).name
        super().__init__(
            f"interrupted by {name}: {released} running trial(s) put back to waiting; "
            "running the study again resumes it"
        )
        self.released = released
        self.exit_code = 128 + signum


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by a stop signal, so the run ends as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


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
