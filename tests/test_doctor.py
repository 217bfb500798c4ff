"""`vae-search doctor`: what this machine gives a search, and what stops one."""

from __future__ import annotations

from search.cli import main


def test_doctor_on_a_study_says_every_check_passed(scored_smoke, capsys):
    assert main(["doctor", "--study", str(scored_smoke)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Python ") and ", TensorFlow " in lines[0]
    assert any(line.startswith("CPU: ") for line in lines)
    assert any(line.startswith("oneDNN: off (TF_ENABLE_ONEDNN_OPTS=0 is set)") for line in lines)
    assert "dilated convolutions: by phases (" in "\n".join(lines)
    assert any(line.startswith("GPUs: none seen") for line in lines)
    assert [line for line in lines if line.startswith("[")] == [
        line for line in lines if line.startswith("[ok] ")
    ]
    assert f"[ok] study: {scored_smoke / 'study.db'} opens, 3 trial(s)" in lines
    assert (
        lines[-1].startswith("summary: TensorFlow ")
        and "dilated convolutions by phases" in lines[-1]
    )


def test_doctor_names_what_is_missing_and_exits_1(tmp_path, capsys):
    code = main(["doctor", "--study", str(tmp_path / "none"), "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"[!!] data: {tmp_path / 'mill.mat'}: not found" in out
    assert f"[!!] study: {tmp_path / 'none' / 'study.db'}: no study here" in out
    assert "[ok] training: " in out  # the machine itself trains
    summary = out.splitlines()[-1]
    assert "mill.mat: not found" in summary and "no study here" in summary
    assert not (tmp_path / "none").exists()  # a check writes nothing


def test_doctor_refuses_a_mill_mat_that_is_no_mat_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a MAT file\n")
    (tmp_path / "mill.mat").symlink_to(tmp_path / "notes.txt")
    assert main(["doctor", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"[!!] data: {tmp_path / 'mill.mat'} (a link to {tmp_path / 'notes.txt'}) is not" in out
