"""optuna-dashboard for a study, on this machine only.

The dashboard serves every Optuna study in the storage, so it lists two. ``vae-search`` is the
ledger the workers write, shown live: trials and their states, validation loss, user
attributes (model name, epochs, timings) and, since launch records the sampled hyperparameters
as Optuna params (:mod:`search.space.distributions`), slice, parallel-coordinate and importance
plots over them: which hyperparameters give a low loss. ``vae-search-scores``, written by
``score`` once a model is scored (:mod:`search.evaluation.scores_study`), holds each scored
model with the same params and its validation score as the value to maximize, the test scores
and intervals beside: the same plots then show which hyperparameters detect worn tools.
It listens on 127.0.0.1 only: the dashboard can edit a study (notes, trial states), so it is
not for the network.
"""

from __future__ import annotations

from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from data_prep.errors import check_integer
from studies.storage import StudyError, load_or_create_study, locate, open_storage

HOST = "127.0.0.1"


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    """One thread per request: the page polls several API routes at once."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No log line per request: the page polls every few seconds."""

    def log_message(self, format: str, *args) -> None:
        pass


def dashboard_server(study: str | Path, storage: str | None = None, port: int = 8080):
    """A bound, not yet serving, dashboard server for the study (and its scores study, once
    scored); ``serve_forever()`` runs it."""
    from optuna_dashboard import wsgi

    check_integer("port", port, 1, 65535)
    location = locate(study, storage)
    ledger_storage = open_storage(location, create=False)
    load_or_create_study(ledger_storage, create=False)  # refuse a database without our study
    try:
        return make_server(
            HOST,
            port,
            wsgi(ledger_storage),
            server_class=_ThreadedServer,
            handler_class=_QuietHandler,
        )
    except OSError as exc:
        raise StudyError(
            f"{HOST}:{port}: cannot serve the dashboard ({exc.strerror}); try another port"
        ) from None
