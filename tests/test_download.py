"""fetch_mill on a real archive laid out as NASA's (a zip holding a zip holding mill.mat),
served from a file:// URL: the network is the only part not exercised here."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from data_prep.download import DownloadError, fetch_mill
from data_prep.mill import load_mill
from search.cli import main
from tests.conftest import MILL_SIX


def nasa_like_archive(path, mill_bytes: bytes):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("mill.mat", mill_bytes)
        z.writestr("Readme.pdf", b"%PDF")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("3. Milling/mill.zip", inner.getvalue())
    return path.as_uri()


def test_fetch_finds_mill_mat_through_nested_archives_and_checks_it(tmp_path):
    content = MILL_SIX.read_bytes()
    url = nasa_like_archive(tmp_path / "3. Milling.zip", content)
    target = fetch_mill(tmp_path / "data", url, hashlib.sha256(content).hexdigest())
    assert target.read_bytes() == content
    assert load_mill(target).signal_names[-1] == "AE_spindle"
    assert sorted(p.name for p in target.parent.iterdir()) == ["mill.mat"]  # no leftovers
    # present: used as it is, nothing downloaded
    assert fetch_mill(target.parent, "file:///nonexistent.zip") == target


def test_a_file_that_is_not_the_nasa_one_is_refused_and_not_kept(tmp_path):
    url = nasa_like_archive(tmp_path / "archive.zip", MILL_SIX.read_bytes())
    with pytest.raises(DownloadError, match="not the NASA file's"):
        fetch_mill(tmp_path / "data", url)  # the NASA digest: this is the two-cut file
    assert list((tmp_path / "data").iterdir()) == []


def test_unreachable_url_and_archive_without_mill_mat(tmp_path):
    with pytest.raises(DownloadError, match="cannot download"):
        fetch_mill(tmp_path / "a", (tmp_path / "missing.zip").as_uri())
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", "nothing")
    with pytest.raises(DownloadError, match=r"holds no mill\.mat"):
        fetch_mill(tmp_path / "b", empty.as_uri())


def test_download_command_checks_the_file_and_keeps_one_in_place(tmp_path, capsys):
    url = nasa_like_archive(tmp_path / "mirror.zip", MILL_SIX.read_bytes())
    assert main(["download", "--dir", str(tmp_path / "data"), "--url", url]) == 2
    error = capsys.readouterr().err.strip()
    assert "not the NASA file's" in error and "\n" not in error
    (tmp_path / "data" / "mill.mat").write_bytes(MILL_SIX.read_bytes())
    assert main(["download", "--dir", str(tmp_path / "data"), "--url", url]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "data" / "mill.mat")
    a_file = tmp_path / "data" / "mill.mat"
    assert main(["download", "--dir", str(a_file), "--url", url]) == 2
    error = capsys.readouterr().err.strip()
    assert "cannot create the data directory" in error and "\n" not in error
