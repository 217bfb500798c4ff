"""The data directory (--data-dir, VAE_SEARCH_DATA, the platform default) and the labels CSV
that ships with the package, as a new user without ../shared meets them."""

from __future__ import annotations

import pytest

from data_prep.download import fetch_mill
from data_prep.errors import DataFileError
from data_prep.labels import read_labels
from data_prep.locations import (
    DATA_ENV,
    FROM_DEFAULT,
    FROM_ENV,
    FROM_GIVEN,
    LABELS_FILE,
    data_dir,
    default_data_dir,
    labels_file,
    locate_data_dir,
    mill_file,
    packaged_labels,
)
from tests.conftest import LABELS


@pytest.fixture(autouse=True)
def fresh_user(tmp_path, monkeypatch):
    """A user with no VAE_SEARCH_DATA whose home (and XDG data home) lie in tmp_path."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    return tmp_path


def test_the_packaged_labels_are_the_reference_csv(tmp_path):
    assert packaged_labels().read_bytes() == LABELS.read_bytes()
    assert len(read_labels(packaged_labels())) == 167


def test_data_dir_is_the_flag_else_the_environment_else_the_default(tmp_path, monkeypatch):
    default = default_data_dir()
    assert default.name == "milling" and default.parent.name == "vae-search"
    assert default.is_relative_to(tmp_path / "home")
    assert locate_data_dir().path == default and locate_data_dir().source == FROM_DEFAULT

    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    assert locate_data_dir().path == tmp_path / "env" and locate_data_dir().source == FROM_ENV
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert locate_data_dir(str(tmp_path / "flag")).source == FROM_GIVEN

    monkeypatch.setenv(DATA_ENV, "")  # empty: unset
    assert data_dir() == default
    monkeypatch.setenv(DATA_ENV, "~/data")  # a quoted ~ the shell left alone
    assert data_dir() == tmp_path / "home" / "data"


@pytest.mark.parametrize(
    ("source", "how", "command"),
    [
        ("flag", "(data directory from --data-dir)", "vae-search download --data-dir "),
        ("env", f"(data directory from {DATA_ENV})", "vae-search download,"),
        ("default", "(the default data directory)", "vae-search download,"),
    ],
)
def test_a_missing_mill_mat_says_where_it_was_looked_for_and_how_to_fetch_it(
    tmp_path, monkeypatch, source, how, command
):
    directory = tmp_path / source
    if source == "env":
        monkeypatch.setenv(DATA_ENV, str(directory))
    if source == "default":
        directory = default_data_dir()
    with pytest.raises(DataFileError) as caught:
        mill_file(directory if source == "flag" else None)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{directory / 'mill.mat'}: not found {how}")
    assert f"fetch it with: {command}" in message
    assert f"--data-dir or {DATA_ENV}" in message


def test_mill_mat_in_the_data_directory_is_found_and_not_downloaded_again(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "mill.mat").write_bytes(b"MATLAB")
    assert mill_file() == tmp_path / "env" / "mill.mat"
    assert fetch_mill(url=(tmp_path / "nowhere.zip").as_uri()) == tmp_path / "env" / "mill.mat"


def test_labels_are_the_given_file_else_the_data_directory_copy_else_the_packaged(tmp_path):
    own_dir = tmp_path / "data"
    assert labels_file(given_dir=own_dir) == packaged_labels()
    own_dir.mkdir()
    (own_dir / LABELS_FILE).write_bytes(LABELS.read_bytes())
    assert labels_file(given_dir=own_dir) == own_dir / LABELS_FILE
    given = tmp_path / "mine.csv"
    given.write_bytes(LABELS.read_bytes())
    assert labels_file(given, own_dir) == given
    assert labels_file(str(given)) == given


def test_a_given_labels_file_that_does_not_exist_is_refused_by_name(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / LABELS_FILE).write_bytes(LABELS.read_bytes())
    missing = tmp_path / "typo.csv"
    with pytest.raises(DataFileError, match=r"typo\.csv: labels file not found$"):
        labels_file(missing, tmp_path / "data")
    with pytest.raises(DataFileError, match="labels file not found"):
        labels_file(tmp_path)  # a directory is not a labels file
