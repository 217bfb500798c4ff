"""Every environment variable vae-search reads, checked at a command's start: a bad value is
one line naming the variable before any work, not a trial used up as failed, a GPU called
"garbage" or a database blamed for a heartbeat."""

from __future__ import annotations

import os
from pathlib import Path

from data_prep.environment import env_number
from data_prep.errors import InputError

CHECKPOINT_ENV = "VAE_SEARCH_CHECKPOINT_SECONDS"
CHECKPOINT_LOW = 0.0  # 0: at every epoch's end
DIRECTORIES = ("VAE_SEARCH_DATA", "VAE_SEARCH_CACHE")  # a directory each, made where missing


def checkpoint_seconds() -> float:
    """Seconds between a trial's checkpoints ($VAE_SEARCH_CHECKPOINT_SECONDS, >= 0)."""
    from vae.checkpoint import EVERY_SECONDS  # imports Keras: a training's process only

    return env_number(CHECKPOINT_ENV, EVERY_SECONDS, CHECKPOINT_LOW)


def check_environment() -> None:
    """Refuse a bad value of any variable vae-search reads (``$VAE_SEARCH_GPUS`` is checked by
    :func:`search.execution.gpus.gpus_found`, read here)."""
    from search.execution.gpus import listed_gpus
    from studies.storage import heartbeat_interval

    heartbeat_interval()
    env_number(CHECKPOINT_ENV, CHECKPOINT_LOW, CHECKPOINT_LOW)
    listed_gpus()
    for name in DIRECTORIES:
        value = os.environ.get(name, "")
        if value and Path(value).expanduser().exists() and not Path(value).expanduser().is_dir():
            raise InputError(f"${name}={value!r}: not a directory")
