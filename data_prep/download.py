"""The original NASA milling file, fetched once where it is missing.

NASA's prognostics data repository serves the UC Berkeley milling data as a zip archive that
holds another zip that holds ``mill.mat`` (six signals, 72,575,144 bytes). ``fetch_mill``
downloads the archive to a temporary file beside the target, finds ``mill.mat`` through the
nested archives, checks its sha256 and only then renames it into place: an interrupted or
altered download never leaves a ``mill.mat`` behind. A file already in place is used as is.
Without a directory it goes to the data directory (:func:`data_prep.locations.data_dir`), where
the commands look for it.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from data_prep.errors import InputError
from data_prep.files import atomic_path, writable_directory
from data_prep.locations import MILL_FILE, data_dir

NASA_MILLING_URL = "https://phm-datasets.s3.amazonaws.com/NASA/3.+Milling.zip"
NASA_MILL_SHA256 = "71486a857939d1416c86c7cf0c469d5e69c7c30495e01ec8a0e13aafd2a313cb"
MAX_NESTING = 3
TIMEOUT_S = 60


class DownloadError(InputError):
    """An archive that cannot be fetched or does not hold the NASA file; names the URL."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"{url}: {problem}")


def fetch_mill(
    directory: str | Path | None = None,
    url: str = NASA_MILLING_URL,
    sha256: str | None = NASA_MILL_SHA256,
) -> Path:
    """``directory/mill.mat``, downloaded from ``url`` if it is not there yet.

    ``directory`` None is the data directory (``$VAE_SEARCH_DATA``, else the user's default), so
    a plain download lands where :func:`data_prep.locations.mill_file` looks. ``sha256`` is the
    digest the extracted file must have (None: do not check).
    """
    directory = data_dir(directory)
    target = directory / MILL_FILE
    if target.is_file():
        return target
    writable_directory(directory, "data directory")
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as scratch:
        archive = Path(scratch) / "archive.zip"
        _download(url, archive)
        content = _find_member(zipfile.ZipFile(archive), MILL_FILE, url)
    digest = hashlib.sha256(content).hexdigest()
    if sha256 is not None and digest != sha256:
        raise DownloadError(url, f"{MILL_FILE} has sha256 {digest[:16]}..., not the NASA file's")
    with atomic_path(target) as tmp:
        tmp.write_bytes(content)
    return target


def _download(url: str, path: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "vae-search"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, path.open("wb") as f:
            shutil.copyfileobj(response, f, length=1 << 20)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(url, f"cannot download ({reason})") from None


def _find_member(archive: zipfile.ZipFile, name: str, url: str, depth: int = 0) -> bytes:
    """The bytes of the member called ``name``, looking inside nested zip archives too."""
    with archive:
        members = archive.namelist()
        for member in members:
            if Path(member).name == name:
                return archive.read(member)
        if depth < MAX_NESTING:
            for member in members:
                if member.lower().endswith(".zip"):
                    nested = zipfile.ZipFile(io.BytesIO(archive.read(member)))
                    try:
                        return _find_member(nested, name, url, depth + 1)
                    except DownloadError:
                        continue
    raise DownloadError(url, f"the archive holds no {name}")
