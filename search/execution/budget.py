"""Runs that fit a time limit: ``run --until 2h30m`` (or a clock time, ``--until 17:45``) and
``run --max-trials N``.

A Colab session or a SLURM job ends at a known time; a run that is killed then loses what its
running trials trained since their last checkpoint, and a trial started a minute before the
end is wasted. So a run with a limit starts a trial only when it is expected to finish in
time, and at the limit its running trials save their state at the end of the epoch they are
in (``vae.checkpoint.stop_at``) and are put back to waiting: the next run goes on from there.

The expected duration of a trial is the mean duration of the study's completed trials (from
claim to completion, as the ledger records them: the same figure as the run's ETA), so it is
the study's own pace on this kind of machine. Before any trial of the study has completed,
nothing is known and a trial starts whenever time is left; the limit then checkpoints it.

``--max-trials N`` starts at most N trials in this run, whatever the number of workers: each
worker takes a token (a file made with ``O_EXCL`` in a directory of the run's) before it
claims a trial, so N is exact even when workers ask at the same moment.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from data_prep.errors import ParameterError, check_integer

_DURATION = re.compile(r"^(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
TIME_LIMIT = "time limit"


def duration_seconds(text: str) -> int | None:
    """Seconds of a duration written ``2h30m``, ``90m`` or ``45s`` (None: not one)."""
    found = _DURATION.match(str(text).strip().lower())
    if not str(text).strip() or not found or not any(found.groups()):
        return None
    hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_until(text: str, now: datetime | None = None) -> float:
    """The moment ``text`` names, as ``time.time()`` counts: a duration from now (``2h30m``,
    ``90m``, ``45s``) or the next time the clock shows ``HH:MM[:SS]`` (local time)."""
    now = now or datetime.now()
    seconds = duration_seconds(text)
    if seconds is not None:
        try:
            return (now + timedelta(seconds=seconds)).timestamp()
        except (OverflowError, ValueError):
            raise ParameterError(
                "until", f"{text!r} is beyond any date the clock can name"
            ) from None
    clock = _CLOCK.match(str(text).strip())
    if clock:
        hour, minute, second = (int(part or 0) for part in clock.groups())
        if hour < 24 and minute < 60 and second < 60:
            at = now.replace(hour=hour, minute=minute, second=second, microsecond=0)
            return (at if at > now else at + timedelta(days=1)).timestamp()
    raise ParameterError(
        "until",
        f"expected a duration such as 2h30m, 90m or 45s, or a clock time such as 17:45, "
        f"got {text!r}",
    )


@dataclass(frozen=True)
class RunLimits:
    """A run's limits, passed to each worker: the moment by which no trial runs (as
    ``time.time()`` counts), the most trials it starts, and where its tokens are."""

    deadline: float | None = None
    max_trials: int | None = None
    tokens: str | None = None  # a directory of the run's, for max_trials
    until: str | None = None  # as given, for messages

    @classmethod
    def of(cls, until: str | None, max_trials: int | None, tokens: Path | None) -> RunLimits:
        if max_trials is not None:
            check_integer("max_trials", max_trials, 1)
        deadline = None if until is None else parse_until(until)
        return cls(deadline, max_trials, None if tokens is None else str(tokens), until)

    @property
    def any(self) -> bool:
        """Whether the run has a limit at all."""
        return self.deadline is not None or self.max_trials is not None

    def refusal(self, mean_trial_seconds: float | None) -> str | None:
        """Why no new trial may start now (None: one may). Takes a token when one may."""
        if self.deadline is not None:
            now = time.time()
            if now >= self.deadline:
                return f"{TIME_LIMIT} ({self.until}) reached"
            if mean_trial_seconds is not None and now + mean_trial_seconds > self.deadline:
                return (
                    f"{TIME_LIMIT} ({self.until}) too near for another trial (a trial of this "
                    f"study takes {mean_trial_seconds:.0f} s on average, "
                    f"{self.deadline - now:.0f} s are left)"
                )
        if self.max_trials is not None and not self._take_token():
            return f"--max-trials {self.max_trials} reached"
        return None

    def _take_token(self) -> bool:
        for number in range(int(self.max_trials or 0)):
            try:
                os.close(
                    os.open(Path(str(self.tokens)) / f"trial-{number}", os.O_CREAT | os.O_EXCL)
                )
            except FileExistsError:
                continue
            return True
        return False


NO_LIMITS = RunLimits()
