"""Keep TensorFlow's start-up lines off the terminal, and everything else on it.

Importing TensorFlow writes lines such as ``oneDNN custom operations are on`` and ``Could not
find cuda drivers`` from C++ straight to file descriptor 2, before any logging setting can be
read (``TF_CPP_MIN_LOG_LEVEL`` does not reach them), and so do the processes the commands start
(the job server and its jobs, scoring processes), which inherit the descriptor. So a command runs
with descriptor 2 led through a pipe (a pseudo-terminal where it was a terminal, so that
progress is still drawn for a terminal); a thread forwards every line to the terminal except
absl's informational lines, its note about logging before ``InitializeLog``, the CPU-features
note, and the failed ``cuInit`` that follows "Could not find cuda drivers" on a machine
without a GPU. Warnings and errors pass, and a trial's own log (the job's output, written to a
file) keeps everything.

The CLI runs every command so; the functions a notebook calls that import TensorFlow or start
processes that do (``run``, ``score``, ``doctor``, ``predict``, ``report``, ``import_model``)
run so too, with :func:`tensorflow_startup_filtered` as their decorator, and so does importing
a name of the ``search`` package: a notebook shows what a process writes to descriptor 2, its
own and its children's. Inside a block already filtered (a CLI command), the block adds
nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import sys
import threading
from collections.abc import Iterator

_NOISE = re.compile(
    rb"(I\d{4} [\d:.]+ +\d+ \S+:\d+\] "  # absl INFO, from TensorFlow's C++
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions:"  # the CPU-features note's second line
    # vae.fused's probe of a dilated gradient, refused where oneDNN is off (as expected)
    rb"|W\d{4} [\d:.]+ +\d+ local_rendezvous\.cc:\d+\] Local rendezvous is aborting with "
    rb"status: INVALID_ARGUMENT: Current CPU implementations do not yet support dilation"
    # oneDNN's note that int32 ops fall back to TensorFlow's own kernels: E-level, not an error
    rb"|E\d{4} [\d:.]+ +\d+ \S+:\d+\] oneDNN supports DT_INT32 only on platforms with AVX-512)"
)
_NO_GPU = b"Could not find cuda drivers"
_CUINIT = re.compile(rb"E\d{4} [\d:.]+ +\d+ \S+:\d+\] failed call to cuInit")
_UNDECIDED = (b"WARNING: All log messages before", b"To enable the following instructions")
_FIRST_BYTES = b"IEWT"  # what a noise line can begin with
LONGEST_START = max(map(len, _UNDECIDED))  # the bytes that decide whether a line may be noise
MAX_HELD = 4096  # bytes of a line held back while it may still turn out to be noise
_filtering = False  # whether a block of this process filters descriptor 2 now
_filtering_lock = threading.Lock()


class NoiseFilter:
    """What to forward of a byte stream: whole lines, noise dropped; the start of a line that
    cannot be noise is passed on at once (a progress bar redraws a line without ending it)."""

    def __init__(self) -> None:
        self._held = b""
        self._no_gpu = False

    def feed(self, data: bytes) -> bytes:
        *lines, unfinished = (self._held + data).split(b"\n")
        cut = self._undecided_from(unfinished)
        self._held = unfinished[cut:]
        return b"".join(self._kept(line + b"\n") for line in lines) + unfinished[:cut]

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return self._kept(held)

    def _kept(self, line: bytes) -> bytes:
        """The line, or what stands before the noise in it (a progress bar's line that a
        noise line was written after, without a line break between them)."""
        if _NO_GPU in line:
            self._no_gpu = True
        noise = _NOISE.search(line) or (self._no_gpu and _CUINIT.search(line)) or None
        return line if noise is None else line[: noise.start()]

    @classmethod
    def _undecided_from(cls, unfinished: bytes) -> int:
        """Where in an unfinished line a noise line may have begun (its length: nowhere)."""
        if len(unfinished) <= MAX_HELD:
            for start, byte in enumerate(unfinished):
                head = unfinished[start : start + LONGEST_START]
                if byte in _FIRST_BYTES and cls._may_be_noise(head):
                    return start
        return len(unfinished)

    @staticmethod
    def _may_be_noise(head: bytes) -> bool:
        digits = head[1:5]
        if head[:1] in (b"I", b"E", b"W") and (not digits or digits.isdigit()):
            return True  # an absl line's start (W: a warning, or the WARNING note below)
        return any(start.startswith(head[: len(start)]) for start in _UNDECIDED if head)


@contextlib.contextmanager
def tensorflow_startup_filtered() -> Iterator[None]:
    """Descriptor 2 through a :class:`NoiseFilter` while the block runs (and in the processes
    it starts); the terminal's own descriptor is back when it ends. Where pipes cannot be
    polled (Windows), output is left as it is; so it is in a block inside another."""
    global _filtering
    if os.name != "posix":
        yield
        return
    with _filtering_lock:
        nested, _filtering = _filtering, True
    if nested:
        yield
        return
    try:
        with _descriptor_2_filtered():
            yield
    finally:
        _filtering = False


@contextlib.contextmanager
def _descriptor_2_filtered() -> Iterator[None]:
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = _channel(terminal)
    os.dup2(write_end, 2)
    os.close(write_end)
    wake_read, wake_write = os.pipe()
    forwarder = threading.Thread(
        target=_forward, args=(read_end, terminal, wake_read), name="stderr-filter", daemon=True
    )
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # this process's writes go straight to the terminal again
        os.write(wake_write, b"!")  # a byte, not a close: forked children share the descriptor
        forwarder.join()
        for descriptor in (read_end, terminal, wake_read, wake_write):
            os.close(descriptor)


def _channel(terminal: int) -> tuple[int, int]:
    """(read end, write end) for descriptor 2: a pipe, or where descriptor 2 is a terminal, a
    pseudo-terminal of its size, raw (no line ending rewritten), so that this process and the
    ones it starts still write to a terminal and ``run`` redraws its progress line."""
    if not os.isatty(terminal):
        return os.pipe()
    import fcntl
    import pty
    import termios
    import tty

    read_end, write_end = pty.openpty()
    tty.setraw(write_end)
    with contextlib.suppress(OSError):  # a terminal that has no size: the default one
        size = fcntl.ioctl(terminal, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(write_end, termios.TIOCSWINSZ, size)
    return read_end, write_end


def _forward(read_end: int, terminal: int, stop: int) -> None:
    """Forward what the pipe brings until ``stop`` is readable, then what the pipe already
    holds (the block's last lines were written before ``stop`` was), and end. End-of-file is
    not waited for: processes the block started may still hold the pipe open."""
    noise = NoiseFilter()
    watched = [read_end, stop]
    while True:
        ready, _, _ = select.select(watched, [], [], None if stop in watched else 0)
        if stop in ready:
            watched = [read_end]
            continue
        if not ready:
            break
        try:
            data = os.read(read_end, 65536)
        except OSError:  # a pseudo-terminal whose every writer has closed it
            break
        if not data:
            break
        _write(terminal, noise.feed(data))
    _write(terminal, noise.flush())


def _write(descriptor: int, data: bytes) -> None:
    with contextlib.suppress(OSError):  # a terminal gone (a closed pipe) is not an error here
        while data:
            data = data[os.write(descriptor, data) :]
