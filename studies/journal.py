"""A study on a shared file system without a database server: ``--storage journal:PATH``.

SQLite must not run on NFS or another network file system: its ``fcntl`` locks are not
honoured there and the file corrupts. Optuna's answer for a study shared that way is its
``JournalStorage`` on a ``JournalFileBackend``: every change is one JSON line appended under a
lock, and every process replays the lines into memory. The lock used here is
``studies.filelock.FileLock``: an ``open(O_CREAT | O_EXCL)`` of ``PATH.lock``, atomic on NFSv3
and later, as Optuna's ``JournalFileOpenLock``, but released or broken (a lock left by a killed
process is broken after 30 s without change) only by the process whose lock it is. A torn last
line of the journal (its writer was killed mid-line) is cut off by the next writer under the
lock, with a warning: Optuna would glue the next entry to it. Appends happen
under it, each opened after the lock is held, so NFS's close-to-open consistency gives the
writer the file's current end; readers open the file afresh and take whole lines only.

The trials live in that journal. The project's own tables (``studies.schema``: models,
scorings, scores) have no SQL database to live in, and SQLite beside the journal would be the
same corruption. So they are a second append-only file, ``PATH.tables``: each committed write
transaction on them is one line of records (``studies.records``: data for an allow-list of
tables and columns, never SQL), appended under that file's own lock (``studies.filelock``).
Each process replays the lines, in file order, into an in-memory SQLite database with the
project's schema, and ``studies.results`` runs its queries there unchanged. A write
transaction holds the lock from its first statement to its commit and replays the lines of
others first; at its commit its records are appended and its own changes dropped, to come
back with the next replay, so a process's tables are always the file's. No writer truncates
or rewrites the file: a line cut short by a killed writer is sealed by the next writer (its
own line starts on a new one) and skipped, with a warning, by every reader; a line that is not
a transaction of the project's tables is skipped the same way.

This keeps the writers that exist — a worker recording the model it saved, ``score`` recording
a scoring, ``import`` recording a model — correct with any number of machines, and readers
(``best``, ``export``, ``report``) need no lock at all. The cost is that each process replays
the whole table journal once when it opens the study (a scored study of 1,000 models holds some
60,000 score rows: about a second).

Heartbeats: Optuna's journal keeps none, so a running trial's heartbeat is a system attribute
holding the time (``time.time()``) of its last beat, written as a journal line, and a trial is
stale when that time is older than the grace period. The machines' clocks must agree within a
fraction of the grace period (two minutes by default), as NTP keeps them on a cluster.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

from studies.errors import StudyError, read_only
from studies.filelock import GRACE_S, FileLock
from studies.records import DamagedRecord, encode, record_of, statements

JOURNAL_SCHEME = "journal:"
TABLES_SUFFIX = ".tables"
HEARTBEAT_ATTR = "vae_search_heartbeat"
TORN_SEAL = b" (torn)\n"  # ends a torn line so that it can never parse


def is_journal_url(url: str) -> bool:
    return url.startswith(JOURNAL_SCHEME)


def journal_url(path: str | Path) -> str:
    """``journal:`` and the journal file's absolute path (a run's workers may start elsewhere)."""
    return JOURNAL_SCHEME + str(Path(path).expanduser().absolute())


def journal_path(url: str) -> Path:
    return Path(url.removeprefix(JOURNAL_SCHEME))


def open_journal(
    path: Path, create: bool, writable: bool, heartbeat_interval: int, grace_period: int
):
    """Optuna's journal storage of the study journalled at ``path``, with heartbeats; refuses,
    reading it only, a file that is not an Optuna journal and a study without its table
    journal, and warns of a torn last line (the next writer drops it). ``create`` (a launch):
    a journal and table journal that do not exist yet are begun."""
    tables = tables_path(path)
    if not path.is_file():
        if not create:
            raise StudyError(f"{path}: no study here (launch it first)")
        if not path.parent.is_dir():
            raise StudyError(f"{path}: its directory does not exist")
    elif not begins_as_journal(path):
        raise StudyError(f"{path}: not an Optuna journal (its first line is no journal entry)")
    elif not create and not tables.is_file():
        raise StudyError(
            f"{tables}: the study's table journal is missing (it goes wherever {path.name} goes)"
        )
    elif torn_tail(path):
        warn(f"{path}: its last line is torn (its writer was killed); the next writer drops it")
    try:
        storage = _journal_storage(path, writable, heartbeat_interval, grace_period)
    except (ValueError, KeyError, TypeError) as exc:
        raise StudyError(f"{path}: not a usable Optuna journal ({exc})") from None
    if create and writable and not tables.exists():
        tables.touch()
    return storage


def begins_as_journal(path: Path) -> bool:
    """Whether the file is empty or begins with a journal entry (a JSON object with an
    ``op_code``)."""
    import json

    with path.open("rb") as journal:
        first = journal.readline()
    if not first:
        return True
    try:
        return "op_code" in json.loads(first)
    except (ValueError, TypeError):
        return False


def _journal_storage(path: Path, writable: bool, heartbeat_interval: int, grace_period: int):
    """Optuna's JournalStorage on ``path`` with NFS-safe locking, heartbeats, and ``engine``:
    the project's tables, replayed from ``PATH.tables``."""
    import optuna
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalFileBackend

    class JournalStudyStorage(optuna.storages.JournalStorage, BaseHeartbeat):
        """The journal, with the heartbeat API the ledger uses on RDB storages."""

        def __init__(self) -> None:
            lock = TrialJournalLock(path) if writable else _NoWrites(path)
            super().__init__(JournalFileBackend(str(path), lock_obj=lock))
            self.heartbeat_interval = heartbeat_interval
            self.grace_period = grace_period
            self._tables: TableJournal | None = None
            self._tables_lock = threading.Lock()

        @property
        def engine(self):
            """The project's tables (an in-memory SQLite engine kept up to the table journal)."""
            with self._tables_lock:
                if self._tables is None:
                    self._tables = TableJournal(tables_path(path), writable)
                return self._tables.engine

        def record_heartbeat(self, trial_id: int) -> None:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            from optuna.trial import TrialState

            now = time.time()
            return [
                trial._trial_id
                for trial in self.get_all_trials(study_id, False, (TrialState.RUNNING,))
                if HEARTBEAT_ATTR in trial.system_attrs
                and now - trial.system_attrs[HEARTBEAT_ATTR] > self.grace_period
            ]

        def get_heartbeat_interval(self) -> int:
            return self.heartbeat_interval

        def get_heartbeat_stale_trial_callback(self):
            return None

    return JournalStudyStorage()


def tables_path(path: Path) -> Path:
    return path.with_name(path.name + TABLES_SUFFIX)


class _NoWrites:
    """The lock of a journal this process can only read: taking it is a write refused."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def acquire(self) -> bool:
        raise read_only(self.path.parent)

    def release(self) -> None:
        pass


class TrialJournalLock(FileLock):
    """The trial journal's lock; once held, a torn last line (a writer killed mid-line) is cut
    off with a warning, since Optuna would glue the next entry to it and then refuse the file.
    Only the bytes after the last newline go: no other writer is at work under the lock."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.journal = path

    def acquire(self) -> bool:
        super().acquire()
        try:
            torn = torn_tail(self.journal)
            if torn:
                with open(self.journal, "r+b") as journal:
                    journal.truncate(journal.seek(0, os.SEEK_END) - torn)
                    os.fsync(journal.fileno())
                warn(f"{self.journal}: dropped a torn last line ({torn} bytes) of the journal")
        except BaseException:
            self.release()
            raise
        return True


def torn_tail(path: Path) -> int:
    """How many bytes follow the file's last newline: a line a killed writer left unfinished
    (or, without the lock, one being written now)."""
    with open(path, "rb") as journal:
        size = journal.seek(0, os.SEEK_END)
        back = min(size, 1 << 20)
        journal.seek(size - back)
        tail = journal.read(back)
    if not tail or tail.endswith(b"\n"):
        return 0
    newline = tail.rfind(b"\n")
    return len(tail) - newline - 1 if newline >= 0 or back == size else 0


def warn(message: str) -> None:
    """A line on stderr about something a command survives (it goes on)."""
    print(f"vae-search: warning: {message}", file=sys.stderr, flush=True)


_REPORTED: set[tuple[Path, str]] = set()  # the skipped lines this process has warned of


class TableJournal:
    """The project's tables for a journal study: an in-memory SQLite database, replayed from
    an append-only file of committed write transactions (see the module's docstring).

    One connection serves every thread, one transaction at a time. Where the study can be
    written, each transaction holds the file's lock from its start to its end (transactions
    here are short: a model's row, a scoring), so it reads what every other process committed
    before it and its writes follow theirs in the file; where it cannot, transactions replay
    and read, and a write is refused.
    """

    def __init__(self, path: Path, writable: bool, grace_period: float = GRACE_S) -> None:
        import sqlalchemy
        from sqlalchemy.pool import StaticPool

        from studies.schema import Base

        self.path = path
        self.writable = writable
        self.grace_period = grace_period
        memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)

        def engine():
            return sqlalchemy.create_engine(
                "sqlite://", creator=lambda: memory, poolclass=StaticPool, pool_reset_on_return=None
            )

        self.engine, self._replayer = engine(), engine()
        Base.metadata.create_all(self.engine)  # the schema itself is never journalled
        self._offset = 0
        self._lines = 0
        self._turn = threading.RLock()
        self._local = threading.local()
        for name in ("begin", "commit", "rollback", "before_execute"):
            sqlalchemy.event.listen(self.engine, name, getattr(self, f"_on_{name}"))

    def _on_begin(self, connection) -> None:
        self._turn.acquire()
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        if depth:  # a transaction inside this thread's open one: it joins that one
            return
        self._local.writes = []
        self._local.lock = None
        try:
            if self.writable:
                self._local.lock = FileLock(self.path, self.grace_period)
                self._local.lock.acquire()
            self._replay()
            connection.connection.dbapi_connection.execute("BEGIN")
        except BaseException:
            self._end()
            raise

    def _on_before_execute(self, connection, clause, multiparams, params, options) -> None:
        from sqlalchemy.sql.dml import UpdateBase

        if not isinstance(clause, UpdateBase):
            return
        if not self.writable:
            raise read_only(self.path.parent)
        self._local.writes.append(record_of(clause, multiparams, params))

    def _on_commit(self, connection) -> None:
        """Append the transaction's records, then drop its changes here: the next replay
        brings them back in the file's order, after whatever another writer appended."""
        if self._local.depth > 1:
            self._end()
            return
        try:
            if self._local.writes:
                self._append(encode(self._local.writes))
        finally:
            self._on_rollback(connection)

    def _on_rollback(self, connection) -> None:
        if self._local.depth == 1:
            dbapi = connection.connection.dbapi_connection
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
        self._end()

    def _end(self) -> None:
        """The transaction (or one joined to it) ended: the file's lock goes with the last."""
        self._local.depth -= 1
        try:
            if self._local.depth == 0 and self._local.lock is not None:
                lock, self._local.lock = self._local.lock, None
                lock.release()
        finally:
            self._turn.release()

    def _append(self, line: bytes) -> None:
        """Append one line; a torn line before it (its writer was killed) is sealed first, so
        that it stays one skipped line and this one is whole."""
        if torn_tail(self.path):
            line = TORN_SEAL + line
        with open(self.path, "ab") as journal:
            journal.write(line)
            journal.flush()
            os.fsync(journal.fileno())

    def _replay(self) -> None:
        """Apply the whole lines written since the last replay, each in a transaction; a line
        that is not a transaction of the project's tables is skipped with a warning."""
        import sqlalchemy.exc

        try:
            with open(self.path, "rb") as journal:
                journal.seek(self._offset)
                data = journal.read()
        except FileNotFoundError:
            raise StudyError(f"{self.path}: the study's table journal is missing") from None
        end = data.rfind(b"\n") + 1
        skipped = []
        with self._replayer.connect() as connection:
            for line in data[:end].splitlines():
                self._lines += 1
                try:
                    checked = statements(line)
                    connection.exec_driver_sql("BEGIN")
                    for statement, rows in checked:
                        connection.execute(statement, rows)
                    connection.exec_driver_sql("COMMIT")
                except (DamagedRecord, sqlalchemy.exc.StatementError) as exc:
                    if connection.connection.dbapi_connection.in_transaction:
                        connection.exec_driver_sql("ROLLBACK")
                    skipped.append(f"line {self._lines}: {_reason(exc)}")
        self._offset += end
        new = [line for line in skipped if (self.path, line) not in _REPORTED]
        _REPORTED.update((self.path, line) for line in new)
        if new:
            warn(
                f"{self.path}: skipped {len(new)} line(s) that are no records of the study's "
                f"tables (line {new[0]})"
            )


def _reason(exc: BaseException) -> str:
    from sqlalchemy.exc import StatementError

    if isinstance(exc, StatementError):
        return str(exc.orig).splitlines()[0]
    return str(exc) or "not a record"
