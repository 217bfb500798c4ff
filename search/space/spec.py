"""A study's spec: the search space and fixed settings, read from TOML and checked at the door.

A spec has up to four tables::

    [study]     trials = 1000, seed = 0, retries = 0 (how often a failed training is
                planned again: an out-of-memory kill often deserves one more try);
                seeds = 1 (trainings per configuration, each with a seed of its own);
                racing = false (a configuration's next seed only while it can still reach
                the top: search.execution.racing); score_every = 5 (a training scores its
                validation windows every N epochs, 0: never)
    [data]      window = 64, stride = 64, split = "paper", seed = 0 (as `vae-search prepare`);
                mat = "...", labels = "..." (relative to the spec; without them, the data
                directory's mill.mat and the packaged labels)
    [training]  fixed hyperparameters, e.g. epochs = 2000, batch_size = 1024
    [space]     sampled hyperparameters, each a list of choices or a scipy.stats distribution:
                beta_value = { dist = "uniform", loc = 0.5, scale = 9.0 }
                codings_size = { dist = "randint", low = 5, high = 40 }
                dilations = [[1, 2, 4, 8], [1, 2, 4], [1, 2]]

A distribution names a ``scipy.stats`` distribution under ``dist`` and passes the other keys
as its arguments (``args = [...]`` for positional ones). Every hyperparameter the model takes
must be either fixed or sampled (or left to its default); anything else is refused with the
file and the key named.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_prep.errors import DataFileError, InputError
from vae.hyperparams import HYPERPARAMETERS, Hyperparameters
from vae.scores import DEFAULT_SCORE_EVERY

SECTIONS = ("study", "data", "training", "space")
STUDY_KEYS = {
    "trials": int,
    "seed": int,
    "name": str,
    "retries": int,
    "seeds": int,
    "racing": bool,
    "score_every": int,
}
DATA_KEYS = {
    "mat": str,
    "labels": str,
    "window": int,
    "stride": int,
    "split": str,
    "seed": int,
    "signals": list,
}
# What each key means, for the reference (written from these at build time; a key without
# its description fails tests/test_docs.py).
STUDY_KEY_DOCS = {
    "trials": "how many trainings the plan holds (raise it later to extend the plan)",
    "seed": "the plan's seed: the same spec and seed plan the same configurations and seeds",
    "name": "a name for the study, kept with its spec",
    "retries": "how often a failed training is planned again (an out-of-memory kill often "
    "deserves one more try)",
    "seeds": "trainings per configuration, each with a seed of its own",
    "racing": "plan a configuration's next seed only while it can still reach the top",
    "score_every": "a training scores its validation windows every N epochs (0: never)",
}
DATA_KEY_DOCS = {
    "mat": "the milling MAT file, relative to the spec (default: the data directory's mill.mat)",
    "labels": "the labels CSV, relative to the spec (default: the data directory's, else the "
    "packaged reference labels)",
    "window": "window length in samples",
    "stride": "step between windows in samples",
    "split": "`paper` (the reference study's split, by window) or `cut` (leakage-free, whole "
    "cuts to train, validation or test)",
    "seed": "seed of the `cut` split (the `paper` split always uses the reference seeds)",
    "signals": "the signals to use, in channel order (default: every signal of the file)",
}


class SpecError(DataFileError):
    """A spec file that cannot define a study."""


@dataclass(frozen=True)
class Choice:
    """A list of choices, drawn uniformly; behaves as a distribution for ParameterSampler."""

    options: tuple[Any, ...]

    def rvs(self, random_state=None):
        return self.options[random_state.randint(len(self.options))]


@dataclass(frozen=True)
class StudySpec:
    """A parsed spec. ``source`` is the TOML text, kept so a study can refuse another spec."""

    path: Path
    source: str
    trials: int = 10
    seed: int = 0
    name: str | None = None
    retries: int = 0
    seeds: int = 1
    racing: bool = False
    score_every: int = DEFAULT_SCORE_EVERY
    data: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)

    @property
    def window(self) -> int:
        return int(self.data.get("window", 64))

    def prepare_config(
        self,
        mat: str | Path | None = None,
        labels: str | Path | None = None,
        data_dir: str | Path | None = None,
    ):
        """The data preparation this spec asks for. A file given here wins; then the spec's
        own paths (relative to the spec); else ``mill.mat`` from the data directory and the
        labels from there or from the package (:mod:`data_prep.locations`)."""
        from data_prep import PrepareConfig
        from data_prep.locations import labels_file, mill_file

        mat = mat or self._data_file("mat") or mill_file(data_dir)
        labels = labels_file(labels or self._data_file("labels"), data_dir)
        params = {k: v for k, v in self.data.items() if k not in ("mat", "labels")}
        if "signals" in params:
            params["signals"] = tuple(params["signals"])
        return PrepareConfig(Path(mat), labels, **params)

    def _data_file(self, key: str) -> Path | None:
        """The file ``[data] key`` names, relative to the spec; one that is missing is refused
        naming the key too, which is what the user edits."""
        if key not in self.data:
            return None
        path = (self.path.parent / self.data[key]).resolve()
        if not path.is_file():
            raise SpecError(self.path, f"[data] {key}: {path}: file not found")
        return path


def builtin_specs() -> dict[str, Path]:
    """The specs shipped with vae-search by name: ``paper`` (the reference study's space),
    ``smoke`` (minutes on a laptop) and ``paper-best`` (the paper's best configuration alone)."""
    import studies

    return {p.stem: p for p in sorted(Path(studies.__file__).parent.glob("*.toml"))}


def read_spec(path: str | Path) -> StudySpec:
    """Parse and check a spec file (or a built-in spec's name); raise SpecError naming the file
    and the problem."""
    path = Path(path)
    if not path.is_file():
        builtin = builtin_specs()
        if str(path) not in builtin:
            known = ", ".join(builtin)
            raise SpecError(path, f"file not found (built-in specs: {known})")
        path = builtin[str(path)]
    return parse_spec(path, path.read_text(encoding="utf-8"))


def parse_spec(path: Path, source: str) -> StudySpec:
    """Parse and check the text of a spec; ``path`` is where it came from (for messages, and
    the files its ``[data]`` names)."""
    try:
        raw = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, f"not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise SpecError(path, f"unknown table [{unknown[0]}] (known: {', '.join(SECTIONS)})")
    study = _typed(path, "study", raw.get("study", {}), STUDY_KEYS)
    data = _typed(path, "data", raw.get("data", {}), DATA_KEYS)
    fixed = dict(raw.get("training", {}))
    space_raw = dict(raw.get("space", {}))
    for table, keys in (("training", fixed), ("space", space_raw)):
        strange = sorted(set(keys) - set(HYPERPARAMETERS))
        if strange:
            raise SpecError(
                path,
                f"[{table}] has unknown hyperparameter '{strange[0]}' "
                f"(known: {', '.join(HYPERPARAMETERS)})",
            )
    both = sorted(set(fixed) & set(space_raw))
    if both:
        raise SpecError(path, f"'{both[0]}' is both fixed in [training] and sampled in [space]")
    space = {name: _distribution(path, name, value) for name, value in space_raw.items()}
    trials = study.get("trials", 10)
    if trials < 1:
        raise SpecError(path, f"[study] trials must be >= 1, got {trials}")
    for key, least in (("retries", 0), ("seeds", 1), ("score_every", 0)):
        if study.get(key, least) < least:
            raise SpecError(path, f"[study] {key} must be >= {least}, got {study[key]}")
    if study.get("racing") and study.get("score_every", DEFAULT_SCORE_EVERY) == 0:
        raise SpecError(path, "[study] racing needs the trainings' scores: score_every >= 1")
    if not 0 <= study.get("seed", 0) < 2**32:
        raise SpecError(path, f"[study] seed must be from 0 to 2**32 - 1, got {study['seed']}")
    try:  # fixed values must be valid on their own
        Hyperparameters.from_dict(fixed)
    except InputError as exc:
        raise SpecError(path, f"[training] {exc}") from None
    window = int(data.get("window", 64))
    for name, dist in space.items():
        _check_sampled(path, name, dist, fixed, window)
    return StudySpec(
        path=path,
        source=source,
        trials=trials,
        seed=study.get("seed", 0),
        name=study.get("name"),
        retries=study.get("retries", 0),
        seeds=study.get("seeds", 1),
        racing=study.get("racing", False),
        score_every=study.get("score_every", DEFAULT_SCORE_EVERY),
        data=data,
        fixed=fixed,
        space=space,
    )


def with_split(spec: StudySpec, split: str) -> StudySpec:
    """The spec with ``[data] split`` set to ``split``, in its text too: a study records the
    text it was launched with, so extending it later asks for the same split (the same
    ``--split``, or a spec that says it)."""
    from data_prep.errors import check_choice
    from data_prep.splits import SPLITS

    check_choice("split", split, SPLITS)
    if spec.data.get("split", "paper") == split:
        return spec
    lines = spec.source.splitlines()
    setting = f'split = "{split}"  # set by launch --split'
    header = next((i for i, line in enumerate(lines) if _table(line) == "data"), None)
    if header is None:
        lines += ["", "[data]", setting]
    else:
        end = next((i for i in range(header + 1, len(lines)) if _table(lines[i])), len(lines))
        given = [i for i in range(header + 1, end) if re.match(r"\s*split\s*=", lines[i])]
        if given:
            lines[given[0]] = setting
        else:
            lines.insert(header + 1, setting)
    changed = parse_spec(spec.path, "\n".join(lines) + "\n")
    if changed.data.get("split") != split:
        raise SpecError(spec.path, f"cannot set [data] split here: write split = {split!r} in it")
    return changed


def _table(line: str) -> str | None:
    """The name of the TOML table a line opens (``[data]``: data), else None."""
    found = re.match(r"\s*\[\s*([\w.-]+)\s*\]\s*(#.*)?$", line)
    return found.group(1) if found else None


def _typed(path: Path, table: str, values: dict, expected: dict[str, type]) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise SpecError(path, f"[{table}] must be a table")
    for key, value in values.items():
        kind = expected.get(key)
        if kind is None:
            raise SpecError(
                path, f"[{table}] has unknown key '{key}' (known: {', '.join(expected)})"
            )
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise SpecError(path, f"[{table}] {key} must be {kind.__name__}, got {value!r}")
    return dict(values)


def _check_sampled(path: Path, name: str, dist: Any, fixed: dict, window: int) -> None:
    """Refuse a sampled value that can never make a model (each choice of a list; the ends of
    a discrete distribution's support, the median of a continuous one), and a key whose
    every value the window cannot take; the plan skips draws the window cannot take."""
    if isinstance(dist, Choice):
        values = [list(v) if isinstance(v, tuple) else v for v in dist.options]
    elif hasattr(dist.dist, "pmf"):
        values = [int(v) for v in dist.support() if math.isfinite(v)]
    else:
        values = [float(dist.median())]
    window_errors = []
    for value in values:
        try:
            hp = Hyperparameters.from_dict({**fixed, name: value})
        except InputError as exc:
            raise SpecError(
                path, f"[space] {name} can draw {value!r}, which cannot work: {exc}"
            ) from None
        try:
            hp.check_window(window)
        except InputError as exc:
            window_errors.append(str(exc))
    if values and len(window_errors) == len(values):
        raise SpecError(path, f"[space] {name}: no value it can draw fits: {window_errors[0]}")


def _distribution(path: Path, name: str, value: Any):
    """A Choice for a list, a frozen scipy.stats distribution for a table."""
    if isinstance(value, list):
        if not value:
            raise SpecError(path, f"[space] {name}: the list of choices is empty")
        return Choice(tuple(tuple(v) if isinstance(v, list) else v for v in value))
    if not isinstance(value, dict) or "dist" not in value:
        raise SpecError(
            path,
            f"[space] {name}: expected a list of choices or a table with dist = "
            f"'<scipy.stats name>', got {value!r}",
        )
    import scipy.stats

    arguments = dict(value)
    dist_name = arguments.pop("dist")
    positional = arguments.pop("args", [])
    family = getattr(scipy.stats, str(dist_name), None)
    if not isinstance(family, scipy.stats.rv_continuous | scipy.stats.rv_discrete):
        raise SpecError(path, f"[space] {name}: '{dist_name}' is not a scipy.stats distribution")
    try:
        frozen = family(*positional, **arguments)
        frozen.rvs(random_state=0)
    except Exception as exc:
        raise SpecError(
            path, f"[space] {name}: {dist_name}({value}) cannot sample ({exc})"
        ) from None
    return frozen
