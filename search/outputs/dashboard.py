"""optuna-dashboard for a study, on this machine only.

The dashboard serves every Optuna study in the storage, so it lists two. ``vae-search`` is the
ledger the workers write, shown live: trials and their states, each training's validation
latent PR-AUC as its value (what ``best`` ranks by), its validation loss as the learning
curve, user attributes (model name, epochs, timings) and, since launch records the sampled
hyperparameters as Optuna params (:mod:`search.space.distributions`), slice,
parallel-coordinate and importance plots over them. ``vae-search-scores``, written by ``score``
(:mod:`search.evaluation.scores_study`), holds each scored configuration, its seeds averaged,
the test scores beside; each study's note (:mod:`search.evaluation.study_notes`) says what it
is and shows the ranking and the baselines. It listens on 127.0.0.1 by default: the dashboard
can edit a study (notes, trial states), so it is for the network only where asked.
"""

from __future__ import annotations

from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from data_prep.errors import check_integer
from studies.storage import StudyError, locate, open_study

HOST = "127.0.0.1"


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    """One thread per request: the page polls several API routes at once."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No log line per request: the page polls every few seconds."""

    def log_message(self, format: str, *args) -> None:
        pass


def dashboard_server(
    study: str | Path, storage: str | None = None, port: int = 8080, host: str = HOST
):
    """A bound, not yet serving, dashboard server for the study (and its scores study, once
    scored) on ``host`` (this machine only by default); ``serve_forever()`` runs it."""
    from optuna_dashboard import wsgi

    check_integer("port", port, 1, 65535)
    location = locate(study, storage)
    opened = open_study(location)  # refuses a database without our study
    try:
        return make_server(
            host,
            port,
            wsgi(opened.storage),
            server_class=_ThreadedServer,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        raise StudyError(
            f"{host}:{port}: cannot serve the dashboard ({exc.strerror}); try another port"
        ) from None
