"""The documentation is checked like code: the site builds with ``--strict`` (no broken link or
anchor), every command, option, spec key and public name has its text, and README's tour runs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli import build_parser, main
from search.cli.common import Parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _reference():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "docs_gen/reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_command_option_spec_key_and_public_name_is_documented():
    assert _reference().undocumented() == []


def test_a_command_or_option_without_help_is_found():
    parser = Parser(prog="vae-search")
    commands = parser.add_subparsers()
    quiet = commands.add_parser("quiet")  # no help
    quiet.add_argument("--loud", help="has its text")
    quiet.add_argument("--bare")
    assert _reference().undocumented(parser) == [
        "command quiet: no help",
        "command quiet, option --bare: no help",
    ]


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="the docs extra")
def test_the_site_builds_strict_with_its_generated_reference(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cli = (tmp_path / "site/reference/cli/index.html").read_text()
    for name, _, sub in _reference().commands(build_parser()):
        assert f'id="{name}"' in cli
        assert all(o in cli for a in sub._actions for o in a.option_strings)


def _tour() -> list[list[str]]:
    """README's tour: each ``vae-search`` line's arguments, its comment left out."""
    text = README.read_text()
    block = text.split("<!-- tour -->", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [
        shlex.split(line, comments=True)[1:]
        for line in block.splitlines()
        if line.startswith("vae-search ")
    ]


def test_the_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert not re.search(r"\bissue \d", text, re.IGNORECASE)
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link


def test_the_tour_runs(scored_smoke, tmp_path, monkeypatch):
    """The tour's lines on a trained and scored smoke study: each parses as the command line
    does; those that read a study run for real (launch, run and score on a fresh study:
    tests/test_first_hour.py; dashboard serves until stopped)."""
    study = tmp_path / "runs" / "tour"
    shutil.copytree(scored_smoke, study)
    tour = _tour()
    assert [args[0] for args in tour] == [
        "launch", "run", "status", "run", "score", "best", "report", "export", "dashboard",
    ]  # fmt: skip
    parser = build_parser()
    for args in tour:
        parser.parse_args(args)
    monkeypatch.chdir(tmp_path)
    for args in tour:
        if args[0] in ("status", "best", "report", "export"):
            assert main(args) == 0, args
    assert list((study / "report").glob("*.png"))
    assert (study / "results.csv").read_text().count("\n") >= 4  # a header and 3 models
