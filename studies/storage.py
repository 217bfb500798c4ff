"""Where a study lives: its directory, and Optuna's RDB storage in SQLite or PostgreSQL.

A study is a directory holding ``study.db`` (SQLite), ``models/``, ``logs/``, ``cache/`` (the
prepared data) and the spec it was launched with; or a ``postgresql://`` URL plus a directory
every worker reaches. Optuna's tables keep the trials (``search.execution.ledger`` is the one
module that reads and writes them); the project's own tables (``studies.schema``) live in the
same database. SQLite runs in
WAL mode with a generous busy timeout, so parallel workers wait for the
lock instead of failing with "database is locked" (optuna#820).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.errors import InputError

DB_FILE = "study.db"
SPEC_FILE = "spec.toml"
MODELS_DIR = "models"
LOGS_DIR = "logs"
CACHE_DIR = "cache"
PREPARED_ATTR = "prepared_file"  # study attribute: the prepared data's file name in CACHE_DIR
BUSY_TIMEOUT_S = 120
STUDY_NAME = "vae-search"


def heartbeat_interval() -> int:
    """Seconds between a running trial's heartbeats ($VAE_SEARCH_HEARTBEAT, default 30).

    A trial whose heartbeat is older than four intervals is stale: its worker died.
    """
    return max(1, int(os.environ.get("VAE_SEARCH_HEARTBEAT", "30")))


class StudyError(InputError):
    """A study that cannot be opened or created: one line naming where and why."""


def database_error(exc: BaseException) -> str | None:
    """What went wrong, when ``exc`` is an error of the study database (damaged, full,
    read-only) raised by SQLite, SQLAlchemy or Optuna around them; None otherwise."""
    seen = exc
    while seen is not None:
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
    def database_name(self) -> str:
        """The database file, or the URL without its password."""
        if self.is_sqlite:
            from sqlalchemy.engine import make_url

            return str(make_url(self.url).database)
        return _safe_url(self.url)


def locate(study: str | Path, storage: str | None = None) -> StudyLocation:
    """The location of the study in directory ``study`` (its database at ``storage``, a URL,
    where it is not the directory's SQLite file)."""
    directory = Path(study)
    return StudyLocation(directory=directory, url=storage or sqlite_url(directory / DB_FILE))


def sqlite_url(path: Path) -> str:
    """The SQLite URL of ``path``, built from its parts: a '?', '%' or '#' in a directory's
    name is quoted, so it cannot move the database elsewhere or add options to the URL."""
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=str(path.resolve())).render_as_string(hide_password=False)


def prepare_directory(location: StudyLocation) -> None:
    """Create the study directory and its parts, refusing one we cannot write to."""
    try:
        for path in (location.directory, location.models_dir, location.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudyError(
            f"{location.directory}: cannot create the study ({exc.strerror})"
        ) from None
    if not os.access(location.directory, os.W_OK | os.X_OK):
        raise StudyError(f"{location.directory}: study directory is not writable")


def open_storage(location: StudyLocation, create: bool):
    """Optuna's RDBStorage for the study, with heartbeats; refuses what is not a study."""
    import optuna
    import sqlalchemy
    import sqlalchemy.exc

    if location.is_sqlite:
        db = Path(location.database_name)
        if not create and not db.is_file():
            raise StudyError(f"{db}: no study here (launch it first)")
        _check_sqlite(db, create)
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna; we rely on them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                location.url,
                engine_kwargs=_engine_kwargs(location),
                heartbeat_interval=heartbeat_interval(),
                grace_period=4 * heartbeat_interval(),
            )
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ArgumentError) as exc:
        reason = str(exc.orig if hasattr(exc, "orig") and exc.orig else exc).splitlines()[0]
        raise StudyError(f"{_safe_url(location.url)}: cannot open the storage ({reason})") from None
    except (RuntimeError, ValueError) as exc:  # optuna: schema of another version, bad URL
        raise StudyError(
            f"{_safe_url(location.url)}: not a usable study database ({exc})"
        ) from None
    if location.is_sqlite:
        sqlalchemy.event.listen(storage.engine, "begin", _begin_immediate)
    from studies.schema import create_tables

    create_tables(storage.engine)
    return storage


def _begin_immediate(connection) -> None:
    """Start every SQLite transaction holding the write lock.

    Optuna claims a waiting trial with SELECT ... FOR UPDATE, which SQLite ignores, and
    Python's sqlite3 does not begin a transaction before a SELECT: two workers could both
    read a trial as waiting and both claim it. With the driver's own transaction handling
    off (isolation_level=None) and BEGIN IMMEDIATE here (SQLAlchemy's recipe for pysqlite),
    each claim reads and writes under one lock; the busy timeout makes the others wait.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _engine_kwargs(location: StudyLocation) -> dict[str, Any]:
    if location.is_sqlite:
        return {"connect_args": {"timeout": BUSY_TIMEOUT_S, "isolation_level": None}}
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}


def _check_sqlite(db: Path, create: bool) -> None:
    """Refuse a file that is not a vae-search study, reading it only; then WAL mode
    (persistent in the file). An empty database is a study's start only for ``launch``."""
    if db.is_file():
        names = _study_names_read_only(db)
        if names and STUDY_NAME not in names:
            raise StudyError(f"{db}: an Optuna database, but not a vae-search study")
        if not names and not create:
            raise StudyError(f"{db}: holds no vae-search study (launch one first)")
    try:
        with sqlite3.connect(db, timeout=BUSY_TIMEOUT_S) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        raise StudyError(f"{db}: cannot open the study database ({exc})") from None


def _study_names_read_only(db: Path) -> set[str]:
    """The Optuna study names in ``db`` (none in an empty database), read without writing a
    byte: a file that is refused is left as it was."""
    uri = f"{db.resolve().as_uri()}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)) as con:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
            if tables and "studies" not in tables:
                raise StudyError(f"{db}: an SQLite database, but not a vae-search study")
            if not tables:
                return set()
            problem = con.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise StudyError(f"{db}: the study database is damaged ({problem})")
            return {row[0] for row in con.execute("SELECT study_name FROM studies")}
    except sqlite3.DatabaseError as exc:
        raise StudyError(f"{db}: not a study database, or a damaged one ({exc})") from None


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def load_or_create_study(storage, create: bool):
    """The vae-search study in ``storage`` (one per database)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if create:
        return optuna.create_study(
            storage=storage, study_name=STUDY_NAME, direction="minimize", load_if_exists=True
        )
    try:
        return optuna.load_study(storage=storage, study_name=STUDY_NAME)
    except KeyError:
        raise StudyError("the database holds no vae-search study (launch one first)") from None


def prepared_file(location: StudyLocation) -> Path:
    """The prepared data the study's models train and are scored on."""
    study = load_or_create_study(open_storage(location, create=False), create=False)
    prepared = location.cache_dir / str(study.user_attrs.get(PREPARED_ATTR))
    if not prepared.is_file():
        raise StudyError(f"{prepared}: the study's prepared data are missing (launch again)")
    return prepared
