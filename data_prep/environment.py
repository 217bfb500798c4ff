"""The environment variables vae-search reads, each checked where it is read and all of them
at a command's start (``search.execution.environment``): a bad value is one line naming the
variable, never a trial used up or an error blamed on something else."""

from __future__ import annotations

import math
import os

from data_prep.errors import InputError


def env_number(name: str, default: float, low: float, integer: bool = False) -> float:
    """``$name`` as a number >= ``low`` (an integer where ``integer``); ``default`` when unset
    or empty."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= low):
        kind = "an integer" if integer else "a number"
        raise InputError(f"${name}={text!r}: expected {kind} >= {low:g}")
    return value
