"""A lock for files on a shared file system that only its owner can release.

Optuna's ``JournalFileOpenLock`` takes a lock by creating ``PATH.lock`` with
``open(O_CREAT | O_EXCL)``, atomic on local disks and on NFSv3 and later, and breaks a lock
left unchanged for its grace period (a killed holder never releases it). Its release removes
whatever lock file is there: a holder paused past the grace (SIGSTOP, a closed laptop lid, an
NFS stall, SLURM's suspend) resumes and removes the lock of the process that broke its own,
and two writers then hold it at once. This lock writes a token of its own into the file and
releases, or breaks, only the lock it saw: a resumed holder finds another token and leaves it.

The holders of this lock only append to the files it guards, so a holder that lost its lock
while paused and then appends loses nothing another wrote meanwhile: its line comes after.
"""

from __future__ import annotations

import errno
import os
import socket
import time
import uuid
from pathlib import Path

LOCK_SUFFIX = ".lock"
GRACE_S = 30.0


class FileLock:
    """The lock of ``target`` (a file ``TARGET.lock``), with Optuna's acquire/release methods
    so that Optuna's ``JournalFileBackend`` takes it too."""

    def __init__(self, target: str | Path, grace_period: float = GRACE_S) -> None:
        self.path = Path(f"{target}{LOCK_SUFFIX}")
        self.grace_period = grace_period
        self._token: bytes | None = None

    def acquire(self) -> bool:
        token = f"{socket.gethostname()} {os.getpid()} {uuid.uuid4().hex}".encode()
        delay, seen, since = 0.001, None, time.monotonic()
        while True:
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                mark = _mark(self.path)
                if mark != seen:
                    seen, since = mark, time.monotonic()
                elif mark is not None and time.monotonic() - since > self.grace_period:
                    self._take_aside(lambda aside, stale=mark: _mark(aside) == stale)
                    continue
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
                continue
            try:
                os.write(handle, token)
            finally:
                os.close(handle)
            self._token = token
            return True

    def release(self) -> None:
        """Remove the lock file if it is still this holder's (one broken after the grace and
        taken by another is left to that other)."""
        token, self._token = self._token, None
        if token is not None and _read(self.path) == token:
            self._take_aside(lambda aside: _read(aside) == token)

    def _take_aside(self, ours) -> None:
        """Move the lock file aside under a unique name and remove it when ``ours(aside)``;
        another's lock that came in between is put back."""
        aside = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if not ours(aside):
            try:
                os.link(aside, self.path)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
        aside.unlink()


def _mark(path: Path) -> tuple[int, int] | None:
    """What tells one lock file from the next: its inode and modification time."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
