"""Where a study lives: its directory, and Optuna's RDB storage in SQLite or PostgreSQL, or
its journal storage on a shared file system (``journal:PATH``, :mod:`studies.journal`).

A study is a directory holding ``study.db`` (SQLite), ``models/``, ``logs/``, ``cache/`` (the
prepared data) and the spec it was launched with; or a ``postgresql://`` URL plus a directory
every worker reaches. Optuna's tables keep the trials (``search.execution.ledger`` is the one
module that reads and writes them); the project's own tables (``studies.schema``) live in the
same database. SQLite runs in
WAL mode with a generous busy timeout, so parallel workers wait for the
lock instead of failing with "database is locked" (optuna#820).

Every command, and the ledger, opens its study through one door, :func:`open_study`, whatever
the storage: the :class:`OpenStudy` it returns holds all they reach through it.

A study this process cannot write (on a read-only mount, an archive, a study another user
owns) is opened read-only: what reads it works, and the first write is refused with one line
naming the directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.environment import env_number
from studies.binding import (
    BINDING_FILE,
    ID_ATTR,
    LEGACY_NAME,
    Binding,
    check_bound,
    check_name,
    read_binding,
)
from studies.errors import StudyError, read_only
from studies.journal import (
    begins_as_journal,
    is_journal_url,
    journal_path,
    journal_url,
    open_journal,
    tables_path,
)

DB_FILE = "study.db"
SPEC_FILE = "spec.toml"
MODELS_DIR = "models"
LOGS_DIR = "logs"
CACHE_DIR = "cache"
PREPARED_ATTR = "prepared_file"  # study attribute: the prepared data's file name in CACHE_DIR
BUSY_TIMEOUT_S = 120
STUDY_NAME = LEGACY_NAME  # the Optuna name of a study alone in its own study.db


def heartbeat_interval() -> int:
    """Seconds between a running trial's heartbeats ($VAE_SEARCH_HEARTBEAT, default 30).

    A trial whose heartbeat is older than four intervals is stale: its worker died.
    """
    return int(env_number("VAE_SEARCH_HEARTBEAT", 30, 1, integer=True))


def grace_period() -> int:
    """Seconds without a heartbeat after which a running trial is stale: four intervals."""
    return 4 * heartbeat_interval()


def database_error(exc: BaseException) -> str | None:
    """What went wrong, when ``exc`` is an error of the study database (damaged, full,
    read-only) raised by SQLite, SQLAlchemy or Optuna around them; None otherwise, and for a
    StudyError, which says it in its own line (a write refused on a read-only study)."""
    seen = exc
    while seen is not None and not isinstance(seen, StudyError):
        module = type(seen).__module__
        if module.startswith(("sqlalchemy", "sqlite3")) or isinstance(seen, sqlite3.Error):
            return str(getattr(seen, "orig", None) or seen).splitlines()[0]
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True)
class StudyLocation:
    """A study directory, or a database URL plus the models directory the workers share."""

    directory: Path
    url: str
    name: str = STUDY_NAME  # the Optuna study's name in the storage
    binding: Binding | None = None  # STUDY/storage.json, once launched

    @property
    def models_dir(self) -> Path:
        return self.directory / MODELS_DIR

    @property
    def logs_dir(self) -> Path:
        return self.directory / LOGS_DIR

    @property
    def cache_dir(self) -> Path:
        return self.directory / CACHE_DIR

    @property
    def spec_path(self) -> Path:
        return self.directory / SPEC_FILE

    def model_path(self, recorded: str) -> Path:
        """A recorded model path: relative to the study directory (so a copied study works)."""
        return Path(recorded) if Path(recorded).is_absolute() else self.directory / recorded

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:")

    @property
    def is_journal(self) -> bool:
        return is_journal_url(self.url)

    @property
    def writable(self) -> bool:
        """Whether this process can write the SQLite database and the journal files SQLite
        keeps beside it (or the journal, its table journal and their lock files); a server's
        database is written as the server allows."""
        if not (self.is_sqlite or self.is_journal):
            return True
        db = Path(self.database_name)
        place = os.access(db.parent, os.W_OK | os.X_OK)
        return place and (not db.exists() or os.access(db, os.W_OK))

    @property
    def database_name(self) -> str:
        """The database file (or journal), or the URL without its password."""
        if self.is_journal:
            return str(journal_path(self.url))
        if self.is_sqlite:
            from sqlalchemy.engine import make_url

            return str(make_url(self.url).database)
        return _safe_url(self.url)


def locate(study: str | Path, storage: str | None = None, name: str | None = None) -> StudyLocation:
    """The location of the study in directory ``study``: its database at ``storage`` (a URL
    or ``journal:PATH``), else the one the directory records, else its own SQLite file; its
    Optuna study ``name`` (``launch --name``), else the recorded one, else the directory's
    name in a storage of many studies (``vae-search`` in its own study.db or in a storage it
    was launched on before names were recorded)."""
    directory = Path(study)
    binding = read_binding(directory)
    if storage is None and binding is not None:
        storage = binding.storage
    if storage is not None and is_journal_url(storage):
        if not journal_path(storage).name:
            raise StudyError(f"{storage}: a journal storage names its file: journal:PATH")
        storage = journal_url(journal_path(storage))
        if journal_path(storage).exists() and not journal_path(storage).is_file():
            raise StudyError(f"{journal_path(storage)}: not a file; a journal storage is one")
    if name is not None:
        check_name(name)
        if binding is not None and binding.name != name:
            raise StudyError(f"{directory}: its study is {binding.name!r}, not --name {name!r}")
    elif binding is not None:
        name = binding.name
    elif storage is None or (directory / SPEC_FILE).exists():
        name = STUDY_NAME
    else:
        name = directory.resolve().name
    url = storage or sqlite_url(directory / DB_FILE)
    return StudyLocation(directory=directory, url=url, name=name, binding=binding)


def journal_files(location: StudyLocation) -> list[Path]:
    """The files of a journal study's storage (none for a database)."""
    if not location.is_journal:
        return []
    path = journal_path(location.url)
    return [path, tables_path(path)]


def sqlite_url(path: Path) -> str:
    """The SQLite URL of ``path``, built from its parts: a '?', '%' or '#' in a directory's
    name is quoted, so it cannot move the database elsewhere or add options to the URL."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(path.resolve())).render_as_string(hide_password=False)


def read_only_error(location: StudyLocation) -> StudyError:
    """The one line refusing a write to a study this process can only read."""
    on_file = location.is_sqlite or location.is_journal
    where = Path(location.database_name).parent if on_file else location.directory
    if not where.is_dir():
        return StudyError(f"{location.database_name}: its directory does not exist")
    return read_only(where)


def check_writable(location: StudyLocation) -> None:
    """Refuse, before any work, a command that writes to a study it can only read."""
    if not location.writable:
        raise read_only_error(location)


def prepare_directory(location: StudyLocation) -> None:
    """Create the study directory and its parts, refusing one we cannot write to."""
    try:
        for path in (location.directory, location.models_dir, location.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudyError(
            f"{location.directory}: cannot create the study ({exc.strerror})"
        ) from None
    check_writable(location)


class OpenStudy:
    """A study opened for work, whatever its storage (SQLite, a server's database, a journal):
    where it lives, Optuna's storage and study, the project's tables, and what the trial
    ledger asks of the storage. Commands and the ledger take this one object, so none goes
    back to the storage for the study or to the location for the storage."""

    def __init__(self, location: StudyLocation, storage: Any, study: Any, created: bool) -> None:
        self.location = location
        self.storage = storage  # Optuna's: an RDBStorage, or the journal's (studies.journal)
        self.study = study
        self.study_id: int = storage.get_study_id_from_name(study.study_name)
        self.created = created  # made by this opening (a launch's first)

    @property
    def name(self) -> str:
        """The Optuna study's name in its storage."""
        return self.location.name

    @property
    def engine(self):
        """The project's tables (``studies.schema``): the study database's own engine, or the
        journal's tables replayed into memory."""
        return self.storage.engine

    @property
    def grace_period(self) -> int:
        """Seconds without a heartbeat after which a running trial is stale."""
        return self.storage.grace_period

    def stale_trial_ids(self) -> list[int]:
        """The storage ids of the running trials whose heartbeat is older than the grace
        period (Optuna's test of a dead worker)."""
        return self.storage._get_stale_trial_ids(self.study_id)

    def prepared_file(self) -> Path:
        """The prepared data the study's models train and are scored on."""
        prepared = self.location.cache_dir / str(self.study.user_attrs.get(PREPARED_ATTR))
        if not prepared.is_file():
            raise StudyError(f"{prepared}: the study's prepared data are missing (launch again)")
        return prepared


def open_study(location: StudyLocation, *, create: bool = False) -> OpenStudy:
    """The study at ``location``, opened: its storage with heartbeats and the project's
    tables, and its Optuna study, loaded, or with ``create`` (a launch) created; refuses what
    is not a study and a study of another directory (:mod:`studies.binding`), before anything
    is written.

    A study this process cannot write is opened read-only, and any write to it is refused
    with :func:`read_only_error` (commands that only read work on an archived study)."""
    storage = _open_storage(location, create)
    return OpenStudy(location, storage, *_load_or_create(storage, location, create))


def _open_storage(location: StudyLocation, create: bool):
    """Optuna's storage at ``location`` (the journal's is :mod:`studies.journal`'s), with the
    project's tables where it can be written; refuses what is not a study's storage."""
    import optuna
    import sqlalchemy
    import sqlalchemy.exc

    writable = location.writable
    if location.is_journal:
        path = journal_path(location.url)
        return open_journal(path, create, writable, heartbeat_interval(), grace_period())
    if location.is_sqlite:
        db = Path(location.database_name)
        if not create and not db.is_file():
            raise StudyError(f"{db}: no study here (launch it first)")
        _check_sqlite(db, location.name, create, writable)
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna; we rely on them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                location.url,
                engine_kwargs=_engine_kwargs(location, writable),
                heartbeat_interval=heartbeat_interval(),
                grace_period=grace_period(),
                skip_table_creation=not writable,
            )
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ArgumentError) as exc:
        reason = str(exc.orig if hasattr(exc, "orig") and exc.orig else exc).splitlines()[0]
        raise StudyError(f"{_safe_url(location.url)}: cannot open the storage ({reason})") from None
    except (RuntimeError, ValueError) as exc:  # optuna: schema of another version, bad URL
        raise StudyError(
            f"{_safe_url(location.url)}: not a usable study database ({exc})"
        ) from None
    if not writable:
        sqlalchemy.event.listen(storage.engine, "handle_error", _refuse_writes(location))
        return storage
    if location.is_sqlite:
        sqlalchemy.event.listen(storage.engine, "begin", _begin_immediate)
    from studies.schema import create_tables

    create_tables(storage.engine)
    return storage


def _refuse_writes(location: StudyLocation):
    """A handler of a read-only engine's errors: SQLite's refusal of a write becomes
    :func:`read_only_error`, which names the directory rather than the driver's words."""

    def refuse(context) -> None:
        code = getattr(context.original_exception, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == sqlite3.SQLITE_READONLY:
            raise read_only_error(location) from None

    return refuse


def _begin_immediate(connection) -> None:
    """Start every SQLite transaction holding the write lock.

    Optuna claims a waiting trial with SELECT ... FOR UPDATE, which SQLite ignores, and
    Python's sqlite3 does not begin a transaction before a SELECT: two workers could both
    read a trial as waiting and both claim it. With the driver's own transaction handling
    off (isolation_level=None) and BEGIN IMMEDIATE here (SQLAlchemy's recipe for pysqlite),
    each claim reads and writes under one lock; the busy timeout makes the others wait.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _engine_kwargs(location: StudyLocation, writable: bool) -> dict[str, Any]:
    if not location.is_sqlite:
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    if writable:
        return {"connect_args": {"timeout": BUSY_TIMEOUT_S, "isolation_level": None}}
    db = Path(location.database_name)
    connect = functools.partial(  # a partial, not a lambda: Optuna pickles its engine_kwargs
        sqlite3.connect,
        _read_only_uri(db, writable),
        uri=True,
        timeout=BUSY_TIMEOUT_S,
        check_same_thread=False,
    )
    return {"creator": connect}


def _read_only_uri(db: Path, writable: bool) -> str:
    """A URI that opens ``db`` without writing a byte beside it.

    ``mode=ro`` still needs the WAL index (``-shm``): SQLite creates it where it can write, and
    reads an existing one where it cannot (a run of the study's owner may be writing). Where
    it can neither, no writer is at work, and ``immutable=1`` reads the file as it is."""
    shm = db.with_name(db.name + "-shm")
    mode = "mode=ro" if writable or shm.exists() else "immutable=1"
    return f"{db.resolve().as_uri()}?{mode}"


def _check_sqlite(db: Path, name: str, create: bool, writable: bool) -> None:
    """Refuse a file that is not a vae-search study, reading it only; then WAL mode
    (persistent in the file) where it can be written. An empty database is a study's start
    only for ``launch``."""
    if db.is_file():
        names = _study_names_read_only(db, writable)
        if names and name not in names:
            raise StudyError(f"{db}: an Optuna database, but not a vae-search study")
        if not names and not create:
            raise StudyError(f"{db}: holds no vae-search study (launch one first)")
    if not writable:
        return
    try:
        with sqlite3.connect(db, timeout=BUSY_TIMEOUT_S) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        raise StudyError(f"{db}: cannot open the study database ({exc})") from None


def _study_names_read_only(db: Path, writable: bool) -> set[str]:
    """The Optuna study names in ``db`` (none in an empty database), read without writing a
    byte: a file that is refused is left as it was."""
    uri = _read_only_uri(db, writable)
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)) as con:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
            if tables and "studies" not in tables:
                raise StudyError(f"{db}: an SQLite database, but not a vae-search study")
            if not tables:
                return set()
            _check_intact(db, con)
            return {row[0] for row in con.execute("SELECT study_name FROM studies")}
    except sqlite3.DatabaseError as exc:
        raise StudyError(f"{db}: not a study database, or a damaged one ({exc})") from None


def _check_intact(db: Path, con: sqlite3.Connection) -> None:
    """Refuse a damaged database in one line: SQLite's first problem, and how many it found;
    its full report, where it names more, goes to the error's details."""
    report = "\n".join(row[0] for row in con.execute("PRAGMA quick_check"))
    if report == "ok":
        return
    lines = report.splitlines()
    problems = [line for line in lines if not line.startswith("***")] or lines
    message = f"{db}: the study database is damaged ({problems[0]}"
    if len(problems) == 1:
        raise StudyError(f"{message})")
    raise StudyError(f"{message}; {len(problems)} problems in all)", details=report)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def _load_or_create(storage, location: StudyLocation, create: bool) -> tuple[Any, bool]:
    """The Optuna study of ``location`` in ``storage``, and whether it was created now;
    refused when it belongs to another directory (:mod:`studies.binding`), before anything is
    written."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(storage=storage, study_name=location.name)
    except KeyError:
        if not create:
            where = location.database_name
            raise StudyError(
                f"{where}: holds no study {location.name!r} (launch it first)"
            ) from None
        if location.binding is not None:
            raise StudyError(
                f"{location.directory}: its study {location.name!r} is not in "
                f"{location.database_name}; give its own --storage"
            ) from None
        _refuse_foreign(storage, location)
        new = optuna.create_study(storage=storage, study_name=location.name, direction="maximize")
        return new, True
    check_bound(location.directory, location.binding, location.name, study.user_attrs.get(ID_ATTR))
    return study, False


def _refuse_foreign(storage, location: StudyLocation) -> None:
    """Refuse a journal that holds studies, none of them vae-search's (no study id, no legacy
    name): a new study is not added to another program's journal."""
    if not location.is_journal:
        return
    names = [s.study_name for s in storage.get_all_studies()]
    if names and not any(
        ID_ATTR in s.user_attrs or "main_study" in s.user_attrs or s.study_name == STUDY_NAME
        for s in storage.get_all_studies()
    ):
        raise StudyError(
            f"{location.database_name}: an Optuna journal of other studies "
            f"({', '.join(names[:3])}), not vae-search's; give another journal file"
        )


def studies_in(storage: str) -> list[tuple[str, int, float | None]]:
    """The studies a storage (a URL or ``journal:PATH``) holds: name, trials, best value."""
    import optuna

    location = locate(Path.cwd(), storage)
    if location.is_sqlite:  # every study of the file, read without writing a byte
        db = Path(location.database_name)
        if not db.is_file():
            raise StudyError(f"{db}: no study here (launch it first)")
        _study_names_read_only(db, writable=False)  # refuses what is no study database
        opened = optuna.storages.RDBStorage(
            location.url,
            engine_kwargs=_engine_kwargs(location, writable=False),
            skip_table_creation=True,
        )
    else:
        opened = _open_storage(location, create=False)
    summaries = optuna.get_all_study_summaries(opened)
    return [
        (s.study_name, s.n_trials, None if s.best_trial is None else s.best_trial.value)
        for s in summaries
    ]


def check_not_an_input(out: Path, location: StudyLocation | None = None) -> None:
    """Refuse, in one line, an output path that would overwrite what a study or a model is
    read from: the study's database (and SQLite's files beside it), its journal and the files
    beside that, its records, anything in a ``models/`` directory, a saved model's files."""
    from vae.storage import MANIFEST_FILE

    target = out.expanduser().absolute().resolve()
    protected: dict[Path, str] = {}
    if location is not None:
        db = Path(location.database_name)
        if location.is_sqlite or location.is_journal:
            for suffix in ("", "-wal", "-shm", ".tables", ".lock", ".tables.lock"):
                protected[db.with_name(db.name + suffix).resolve()] = "the study's storage"
        for name in (DB_FILE, SPEC_FILE, BINDING_FILE):
            protected[(location.directory / name).resolve()] = "the study's own file"
    study_files = (DB_FILE, SPEC_FILE, BINDING_FILE)
    for parent in (target, *target.parents):
        if parent.name == MODELS_DIR and any((parent.parent / f).exists() for f in study_files):
            protected[target] = f"inside the study's models directory {parent}"
        if (parent / MANIFEST_FILE).is_file() and parent != target:
            protected[target] = f"inside the saved model {parent}"
    if target.name in (DB_FILE, BINDING_FILE) and target.is_file():
        protected[target] = "a study's own file"
    if target.is_file() and (begins_as_journal(target) and target.stat().st_size):
        protected[target] = "an Optuna journal"
    if target.is_file() and target.name.endswith(".tables"):
        journal = target.with_name(target.name.removesuffix(".tables"))
        if journal.is_file():
            protected[target] = "a study's table journal"
    if target in protected:
        raise StudyError(f"{out}: {protected[target]}; it is read, not written; give another path")
