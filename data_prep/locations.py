"""Where the milling data lives when the user names no file: one data directory, shipped labels.

The data directory is chosen once, in this order: the directory given (the CLI's ``--data-dir``),
else the ``VAE_SEARCH_DATA`` environment variable, else ``milling`` under the user's data
directory by platformdirs' convention (``~/.local/share/vae-search/milling`` on Linux,
``~/Library/Application Support/vae-search/milling`` on macOS,
``%LOCALAPPDATA%\\vae-search\\milling`` on Windows). The ``milling`` subfolder keeps room for
other data sets beside it. ``vae-search download`` writes ``mill.mat`` there; the labels CSV
ships inside the package, so a new user needs nothing but that one download.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

from data_prep.errors import DataFileError

APP_NAME = "vae-search"
DATA_ENV = "VAE_SEARCH_DATA"
DATA_SUBDIR = "milling"
MILL_FILE = "mill.mat"
LABELS_FILE = "labels_with_tool_class.csv"
PACKAGED_DIR = "data"

FROM_GIVEN = "--data-dir"
FROM_ENV = DATA_ENV
FROM_DEFAULT = "default"

# Closes what importlib.resources extracted (only from a zipped install) when Python exits.
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


@dataclass(frozen=True)
class DataDir:
    """A data directory and how it was chosen, so a message can tell the user what to change.

    ``source`` is ``FROM_GIVEN``, ``FROM_ENV`` or ``FROM_DEFAULT``.
    """

    path: Path
    source: str

    def describe(self) -> str:
        """How the directory was chosen, as a message puts it in parentheses."""
        if self.source == FROM_DEFAULT:
            return "the default data directory"
        return f"data directory from {self.source}"


def default_data_dir() -> Path:
    """The user's data directory for vae-search plus ``milling``, by platformdirs' convention.

    ``appauthor=False`` keeps Windows from nesting the name twice (``vae-search\\vae-search``).
    """
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / DATA_SUBDIR


def locate_data_dir(given: str | Path | None = None) -> DataDir:
    """The data directory and its source: ``given``, else ``$VAE_SEARCH_DATA``, else the default.

    An empty ``VAE_SEARCH_DATA`` counts as unset. Its value is user-expanded (``~``) because a
    shell leaves a quoted ``~`` alone. The directory need not exist: ``vae-search download``
    creates it.
    """
    if given is not None:
        return DataDir(Path(given), FROM_GIVEN)
    from_env = os.environ.get(DATA_ENV)
    if from_env:
        return DataDir(Path(from_env).expanduser(), FROM_ENV)
    return DataDir(default_data_dir(), FROM_DEFAULT)


def data_dir(given: str | Path | None = None) -> Path:
    """The data directory: ``given``, else ``$VAE_SEARCH_DATA``, else :func:`default_data_dir`."""
    return locate_data_dir(given).path


def mill_file(given_dir: str | Path | None = None) -> Path:
    """``mill.mat`` in the data directory, or one line saying where it was looked for and how to
    fetch it.

    Raises:
        DataFileError: the file is not there; the message names the path, how the directory was
            chosen and the ``vae-search download`` command that puts the file there.
    """
    where = locate_data_dir(given_dir)
    path = where.path / MILL_FILE
    if path.is_file():
        return path
    command = "vae-search download"
    if where.source == FROM_GIVEN:
        command += f" --data-dir {shlex.quote(str(where.path))}"
    raise DataFileError(
        path,
        f"not found ({where.describe()}); fetch it with: {command}, "
        f"or point --data-dir or {DATA_ENV} at a directory that holds {MILL_FILE}",
    )


def labels_file(given: str | Path | None = None, given_dir: str | Path | None = None) -> Path:
    """The labels CSV to use, by precedence: ``given``, else the data directory's, else the
    packaged one.

    A given file must exist: a typo is refused rather than silently replaced by other labels.
    A ``labels_with_tool_class.csv`` in the data directory is the user's own copy (edited labels,
    or a folder such as ``../shared/data/milling`` holding both files) and so wins over the
    packaged copy, which is the reference study's labels and always there.

    Raises:
        DataFileError: ``given`` is not an existing file.
    """
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise DataFileError(path, "labels file not found")
        return path
    own_copy = data_dir(given_dir) / LABELS_FILE
    if own_copy.is_file():
        return own_copy
    return packaged_labels()


@functools.cache
def packaged_labels() -> Path:
    """The labels CSV shipped in the package, as a real file path.

    ``importlib.resources`` finds it the same way in an installed wheel and an editable install;
    ``as_file`` hands back the file itself there and extracts it only from a zipped install.

    Raises:
        DataFileError: the install lacks the file (built without its package data).
    """
    resource = resources.files("data_prep") / PACKAGED_DIR / LABELS_FILE
    path = _extracted.enter_context(resources.as_file(resource))
    if not path.is_file():
        raise DataFileError(path, "packaged labels missing: reinstall vae-search or pass --labels")
    return path
