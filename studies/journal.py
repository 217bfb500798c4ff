"""A study on a shared file system without a database server: ``--storage journal:PATH``.

SQLite must not run on NFS or another network file system: its ``fcntl`` locks are not
honoured there and the file corrupts. Optuna's answer for a study shared that way is its
``JournalStorage`` on a ``JournalFileBackend``: every change is one JSON line appended under a
lock, and every process replays the lines into memory. The lock used here is
``JournalFileOpenLock``: an ``open(O_CREAT | O_EXCL)`` of ``PATH.lock``, atomic on NFSv3 and
later (a lock left by a killed process is broken after 30 s without change). Appends happen
under it, each opened after the lock is held, so NFS's close-to-open consistency gives the
writer the file's current end; readers open the file afresh and take whole lines only.

The trials live in that journal. The project's own tables (``studies.schema``: models,
scorings, scores) have no SQL database to live in, and SQLite beside the journal would be the
same corruption. So they are a second journal of the same kind, ``PATH.tables``: each
committed write transaction on them is one line holding the transaction's SQL statements and
parameters, appended under that file's own ``JournalFileOpenLock``; each process replays the
lines, in file order, into an in-memory SQLite database with the project's schema, and
``studies.results`` runs its queries there unchanged. A write transaction holds the lock from
its first statement to its commit and replays the lines of others first, so transactions are
serialized in the order of the file and every process that replays it reaches the same
tables: a scoring written by one machine replaces another's as it would in PostgreSQL. The
statements are the project's own (SQLAlchemy's, from ``studies.results``), so a table or
column added later is covered without a line here. A line cut short by a killed writer is cut
off by the next writer before it appends, so the file stays whole lines.

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

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from studies.errors import StudyError, read_only

JOURNAL_SCHEME = "journal:"
TABLES_SUFFIX = ".tables"
HEARTBEAT_ATTR = "vae_search_heartbeat"
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def is_journal_url(url: str) -> bool:
    return url.startswith(JOURNAL_SCHEME)


def journal_url(path: str | Path) -> str:
    """``journal:`` and the journal file's absolute path (a run's workers may start elsewhere)."""
    return JOURNAL_SCHEME + str(Path(path).expanduser().absolute())


def journal_path(url: str) -> Path:
    return Path(url.removeprefix(JOURNAL_SCHEME))


def journal_storage(path: Path, writable: bool, heartbeat_interval: int, grace_period: int):
    """Optuna's JournalStorage on ``path`` with NFS-safe locking, heartbeats, and ``engine``:
    the project's tables, replayed from ``PATH.tables``."""
    import optuna
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    class JournalStudyStorage(optuna.storages.JournalStorage, BaseHeartbeat):
        """The journal, with the heartbeat API the ledger uses on RDB storages."""

        def __init__(self) -> None:
            lock = JournalFileOpenLock(str(path)) if writable else _NoWrites(path)
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


class TableJournal:
    """The project's tables for a journal study: an in-memory SQLite database, replayed from
    an append-only file of committed write transactions (see the module's docstring).

    One connection serves every thread, one transaction at a time. Where the study can be
    written, each transaction holds the file's lock from its start to its end (transactions
    here are short: a model's row, a scoring), so it reads what every other process committed
    before it and its writes follow theirs in the file; where it cannot, transactions replay
    and read, and a write is refused.
    """

    def __init__(self, path: Path, writable: bool) -> None:
        import sqlalchemy
        from sqlalchemy.pool import StaticPool

        from studies.schema import Base

        self.path = path
        self.writable = writable
        if writable and not path.exists():
            path.touch()
        self.engine = sqlalchemy.create_engine(
            "sqlite://",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False, "isolation_level": None},
        )
        Base.metadata.create_all(self.engine)  # the schema itself is never journalled
        self._offset = 0
        self._turn = threading.RLock()
        self._local = threading.local()
        for name in ("begin", "commit", "rollback", "before_cursor_execute"):
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
                from optuna.storages.journal import JournalFileOpenLock

                self._local.lock = JournalFileOpenLock(str(self.path))
                self._local.lock.acquire()
            self._replay(connection.connection.dbapi_connection)
            connection.connection.dbapi_connection.execute("BEGIN")
        except BaseException:
            self._end()
            raise

    def _on_before_cursor_execute(self, connection, cursor, statement, parameters, context, many):
        if statement.lstrip().split(None, 1)[0].upper() not in WRITES:
            return
        if not self.writable:
            raise read_only(self.path.parent)
        self._local.writes.append([statement, _plain(parameters), bool(many)])

    def _on_commit(self, connection) -> None:
        if self._local.depth > 1:
            self._end()
            return
        dbapi = connection.connection.dbapi_connection
        try:
            if self._local.writes:
                self._append(self._local.writes)
            dbapi.execute("COMMIT")
        except BaseException:
            if dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            raise
        finally:
            self._end()

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

    def _append(self, writes: list) -> None:
        """One line for the transaction, after cutting off a line a killed writer left half
        written (the lock is held and every whole line replayed: only a torn one lies beyond)."""
        line = json.dumps({"writes": writes}, separators=(",", ":")) + "\n"
        with open(self.path, "r+b") as journal:
            if journal.seek(0, os.SEEK_END) > self._offset:
                journal.truncate(self._offset)
                journal.seek(self._offset)
            journal.write(line.encode())
            journal.flush()
            os.fsync(journal.fileno())
            self._offset = journal.tell()

    def _replay(self, dbapi) -> None:
        """Apply the whole lines written since the last replay, each in a transaction."""
        try:
            with open(self.path, "rb") as journal:
                journal.seek(self._offset)
                data = journal.read()
        except FileNotFoundError:
            raise StudyError(f"{self.path}: the study's table journal is missing") from None
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            try:
                writes = json.loads(line)["writes"]
            except (ValueError, KeyError, TypeError):
                raise StudyError(f"{self.path}: a damaged line in the table journal") from None
            dbapi.execute("BEGIN")
            for statement, parameters, many in writes:
                # SQLAlchemy's batched INSERT of many rows ("insertmanyvalues") is one execute
                # of one flat parameter list, though it reports itself as executemany
                if many and all(isinstance(p, list) for p in parameters):
                    dbapi.executemany(statement, [tuple(p) for p in parameters])
                else:
                    dbapi.execute(statement, tuple(parameters))
            dbapi.execute("COMMIT")
        self._offset += end


def _plain(parameters: Any) -> Any:
    """DBAPI parameters as JSON keeps them (SQLAlchemy gives tuples of str, int, float, None)."""
    if isinstance(parameters, (list, tuple)):
        return [_plain(p) for p in parameters]
    return parameters
