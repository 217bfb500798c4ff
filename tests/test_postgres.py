"""Many workers on a real PostgreSQL server, and an unreachable storage URL.

CI starts the server (.ci/postgres) and sets VAE_SEARCH_TEST_POSTGRES to a URL whose role may
create databases; each test gets a database of its own and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest

from search import launch, run
from search.cli import main
from search.execution.ledger import PLAN_INDEX, Ledger
from studies.storage import locate, open_study
from tests.conftest import SMOKE

SERVER = os.environ.get("VAE_SEARCH_TEST_POSTGRES")


@pytest.fixture
def postgres_url():
    if not SERVER:
        if os.environ.get("CI"):
            pytest.fail("VAE_SEARCH_TEST_POSTGRES is not set: .ci/run must start PostgreSQL")
        pytest.skip(
            "no PostgreSQL server: run `bash .ci/postgres` and set VAE_SEARCH_TEST_POSTGRES"
        )
    import sqlalchemy

    name = f"vae_search_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = SERVER.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        sqlalchemy.create_engine(url).dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_two_worker_processes_on_one_postgresql_study(tmp_path, postgres_url):
    study = tmp_path / "shared"  # the models directory every worker reaches
    result = launch(study, SMOKE, trials=4, storage=postgres_url)
    assert result.added == 4 and not (study / "study.db").exists()
    report = run(study, storage=postgres_url, workers=2, progress=False)
    assert sum(w.completed for w in report.workers) == 4
    assert all(w.completed >= 1 for w in report.workers)  # both workers trained
    trials = Ledger(open_study(locate(study, postgres_url))).study.get_trials()
    assert sorted(t.user_attrs[PLAN_INDEX] for t in trials) == [0, 1, 2, 3]
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert all((study / t.user_attrs["model_path"]).is_dir() for t in trials)


def test_unreachable_storage_url(capsys, tmp_path):
    url = "postgresql://vae:secret@127.0.0.1:1/nowhere"
    code = main(["launch", "--study", str(tmp_path / "s"), "--spec", str(SMOKE), "--storage", url])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "cannot open the storage" in lines[0] and "secret" not in lines[0]
