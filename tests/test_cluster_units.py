"""Issue 26's parts that need no training: GPU placement, time limits, the SLURM script's
arithmetic, the table journal under several writers, and one-line errors for bad input."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from data_prep.errors import ParameterError
from search.cli import main
from search.execution.budget import RunLimits, parse_until
from search.execution.gpus import gpus_found, plan_gpus
from search.execution.slurm import SlurmJob, slurm_seconds
from studies.journal import TableJournal


def test_workers_are_spread_over_the_gpus_then_stacked():
    assert plan_gpus("all", 2, None, found=("0", "1")).slots == ("0", "1", "0", "1")
    assert plan_gpus("1,3", 1, None, found=("0", "1", "2", "3")).slots == ("1", "3")
    default = plan_gpus(None, 1, None, found=("0", "1", "2"))
    assert default.slots == ("0", "1", "2") and "3 worker(s), each pinned" in default.line(3)
    assert default.line(2).endswith("2 worker(s), each pinned (CUDA_VISIBLE_DEVICES): GPU 0, GPU 1")
    assert plan_gpus(None, 1, 5, found=("0", "1")).slots == ("0", "1", "0", "1", "0")
    assert plan_gpus(None, 1, None, found=()).slots == (None,)
    assert plan_gpus(None, 1, 3, found=()).slots == (None, None, None)


@pytest.mark.parametrize(
    ("gpus", "per_gpu", "workers", "found", "words"),
    [
        ("7", 1, None, ("0", "1"), "gpus 7 not found; this machine has 0, 1"),
        ("0,0", 1, None, ("0", "1"), "gpus names a GPU twice"),
        ("0", 1, None, (), "gpus no GPU found"),
        ("0", 0, None, ("0",), "per_gpu must be an integer >= 1"),
        ("0", 1, 2, ("0",), "workers goes with --gpus only as --per-gpu"),
        (None, 2, None, (), "per_gpu needs GPUs"),
    ],
)
def test_bad_gpu_choices_are_named(gpus, per_gpu, workers, found, words):
    with pytest.raises(ParameterError, match=words):
        plan_gpus(gpus, per_gpu, workers, found=found)


def test_gpus_are_found_from_the_override_and_from_a_schedulers_share(monkeypatch):
    monkeypatch.setenv("VAE_SEARCH_GPUS", "0,1")
    assert gpus_found() == ("0", "1")
    monkeypatch.delenv("VAE_SEARCH_GPUS")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # as SLURM gives a task two GPUs
    assert gpus_found() == ("2", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert gpus_found() == ()


def test_until_takes_durations_and_clock_times():
    now = datetime(2026, 1, 1, 16, 0, 0)
    assert parse_until("2h30m", now) - now.timestamp() == 9000
    assert parse_until("45s", now) - now.timestamp() == 45
    assert parse_until("17:45", now) - now.timestamp() == 6300
    assert parse_until("15:00", now) - now.timestamp() == 23 * 3600  # tomorrow
    for bad in ("5", "abc", "25:00", ""):
        with pytest.raises(ParameterError, match="until expected a duration"):
            parse_until(bad, now)


def test_no_trial_starts_that_would_not_end_in_time(tmp_path):
    limits = RunLimits(deadline=time.time() + 100, until="100s")
    assert limits.refusal(None) is None  # nothing measured yet: it may start
    assert limits.refusal(60.0) is None
    assert "too near for another trial" in limits.refusal(150.0)
    assert "reached" in RunLimits(deadline=time.time() - 1, until="1s").refusal(None)


def test_max_trials_is_exact_when_workers_ask_at_once(tmp_path):
    limits = RunLimits.of(None, 3, tmp_path)
    granted = []
    threads = [
        threading.Thread(target=lambda: granted.append(limits.refusal(None) is None))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 3


def test_slurm_times_and_the_runs_limit():
    assert slurm_seconds("4:00:00") == 4 * 3600
    assert slurm_seconds("90") == 90 * 60  # minutes
    assert slurm_seconds("1-02:00") == 26 * 3600
    job = SlurmJob(Path("/s"), "journal:/j", "0-3", "4:00:00", 1, 2, 1, 300)
    assert job.until == "3h55m"
    assert job.task_command()[-4:] == ["--gpus", "all", "--per-gpu", "2"]


def _rows(engine) -> list[tuple[str, float | None]]:
    from studies.results import models

    return sorted((m.name, m.val_loss) for m in models(engine))


def test_the_table_journal_serialises_writers_and_every_reader_sees_the_same(tmp_path):
    from studies.results import record_model

    path = tmp_path / "study.journal.tables"
    path.touch()
    writers = [TableJournal(path, writable=True) for _ in range(3)]

    def write(k: int) -> None:
        for i in range(10):
            record_model(
                writers[k].engine, name=f"m{i}", path="models/x", config={"k": k}, val_loss=k
            )

    threads = [threading.Thread(target=write, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen = [_rows(TableJournal(path, writable=True).engine), *(_rows(w.engine) for w in writers)]
    assert len(seen[0]) == 10 and all(rows == seen[0] for rows in seen)  # one history for all
    with path.open("ab") as journal:  # a writer killed half-way through its line
        journal.write(b'{"tx":[{"put":"vae_models","rows":[{"name":"torn"')
    before = path.read_bytes()
    late = TableJournal(path, writable=True)
    assert _rows(late.engine) == seen[0]  # the torn line is not read ...
    record_model(late.engine, name="after", path="models/y", config={})
    assert [n for n, _ in _rows(TableJournal(path, writable=True).engine)].count("after") == 1
    assert path.read_bytes().startswith(before)  # ... nor cut off: sealed, never glued to
    lines = path.read_bytes().splitlines()
    assert len(lines) == 32 and lines[-2].endswith(b" (torn)")
    assert all(json.loads(line)["tx"] for line in lines[:30] + lines[-1:])


def test_a_read_only_table_journal_reads_and_refuses_writes(tmp_path):
    from studies.results import record_model
    from studies.storage import StudyError

    path = tmp_path / "t.tables"
    path.touch()
    record_model(TableJournal(path, writable=True).engine, name="a", path="p", config={})
    reader = TableJournal(path, writable=False)
    assert [n for n, _ in _rows(reader.engine)] == ["a"]
    with pytest.raises(StudyError, match="read-only"):
        record_model(reader.engine, name="b", path="p", config={})


def test_a_journal_trial_without_heartbeat_for_the_grace_period_is_stale(tmp_path):
    from studies.storage import journal_files, locate, open_study

    location = locate(tmp_path, f"journal:{tmp_path / 'j.log'}")
    opened = open_study(location, create=True)
    storage = opened.storage
    trial_id = storage.create_new_trial(opened.study_id)  # created running
    storage.record_heartbeat(trial_id)
    assert opened.stale_trial_ids() == []
    storage.set_trial_system_attr(trial_id, "vae_search_heartbeat", time.time() - 1000)
    assert opened.stale_trial_ids() == [trial_id]
    assert opened.grace_period == 4 * storage.heartbeat_interval
    assert [p.name for p in journal_files(location)] == ["j.log", "j.log.tables"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--gpus", "5"], "--gpus no GPU found"),
        (["run", "--until", "soon"], "--until expected a duration"),
        (["run", "--max-trials", "0"], "--max-trials must be an integer >= 1"),
        (["slurm", "--array", "x"], "--storage must be journal:PATH or a postgresql://"),
        (["status", "--storage", "journal:"], "a journal storage names its file"),
        (["run", "--until", "100000000h"], "--until '100000000h' is beyond any date"),
        (["score", "--watch", "99.99", "--act", "99.5"], "--watch (99.99) must not be stricter"),
        (["status", "--storage", "journal:/nonexistent/dir/x.journal"], "no study here"),
        (["launch", "--spec", "smoke", "--storage", "journal:/no/dir/x"], "does not exist"),
        (["status", "--storage", "journal:/dev/null"], "not a file; a journal storage is one"),
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, monkeypatch, args, words):
    monkeypatch.delenv("VAE_SEARCH_GPUS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    code = main([args[0], "--study", str(tmp_path / "s"), *args[1:]])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and words in lines[0], lines


def test_a_file_that_is_no_journal_is_refused_in_one_line(tmp_path, capsys):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello\n")
    code = main(["status", "--study", str(tmp_path), "--storage", f"journal:{bogus}"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines == [
        f"vae-search: error: {bogus}: not an Optuna journal (its first line is no journal entry)"
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VAE_SEARCH_GPUS", "garbage"),
        ("VAE_SEARCH_CHECKPOINT_SECONDS", "abc"),
        ("VAE_SEARCH_CHECKPOINT_SECONDS", "-1"),
        ("VAE_SEARCH_HEARTBEAT", "0"),
        ("VAE_SEARCH_HEARTBEAT", "soon"),
    ],
)
def test_a_bad_environment_variable_is_named_at_start(
    tmp_path, capsys, monkeypatch, variable, value
):
    monkeypatch.setenv(variable, value)
    code = main(["status", "--study", str(tmp_path / "s")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"vae-search: error: ${variable}={value!r}: expected")
    assert not (tmp_path / "s").exists()
