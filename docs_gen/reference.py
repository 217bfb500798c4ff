"""The site's generated pages, written from the code at build time (mkdocs-gen-files runs this
script; nothing it writes is committed): every command and option from the argument parser,
every spec key from the spec's own schema, the Python API from the public names, and the
report's figures under their questions (drawn from a study when one is named).

``tests/test_docs.py`` calls :func:`undocumented` too, so a command, option, spec key or public
name without its text fails a test before it reaches the site as a blank.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The packages whose public names (their ``__all__``) the API page shows, in the flow's order.
API_PACKAGES = ("search", "data_prep", "vae", "studies")


def commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """Each subcommand as (name, its one-line help, its parser), in the order ``--help`` lists
    them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name) or "", sub


def options(sub: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """A command's options and arguments, ``--help`` itself left out."""
    for action in sub._actions:
        if not isinstance(action, argparse._HelpAction):
            yield action


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(action: argparse.Action) -> str:
    if (
        action.required
        or action.default in (None, False, argparse.SUPPRESS)
        or not (action.option_strings)
    ):
        return ""
    default = action.default
    if isinstance(default, tuple | list):
        default = ",".join(map(str, default))
    return f"`{default}`"


def _names(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    takes_value = action.nargs != 0
    metavar = action.metavar or action.dest.upper()
    names = action.option_strings
    shown = [f"`{name} {metavar}`" if takes_value else f"`{name}`" for name in names]
    return ", ".join(shown)


def cli_page() -> str:
    from search.cli import build_parser

    parser = build_parser()
    lines = [
        "# Command line",
        "",
        "Written from `vae-search`'s own argument parser when the site is built, so it lists",
        "exactly the commands and options of this version. `vae-search COMMAND --help` prints",
        "the same text in a terminal.",
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    found = list(commands(parser))
    lines += [f"| [`{name}`](#{name}) | {_cell(help_)} |" for name, help_, _ in found]
    for name, help_, sub in found:
        lines += ["", f"## {name}", "", sub.description or help_, "", "```text"]
        lines += [sub.format_usage().strip(), "```", ""]
        lines += ["| option | default | meaning |", "| --- | --- | --- |"]
        for action in options(sub):
            required = " (required)" if action.required else ""
            choices = f" One of: {', '.join(map(str, action.choices))}." if action.choices else ""
            meaning = f"{_cell(action.help or '')}{required}{_cell(choices)}"
            lines.append(f"| {_names(action)} | {_default(action)} | {meaning} |")
    return "\n".join(lines) + "\n"


def spec_keys() -> dict[str, list[tuple[str, str, Any, str]]]:
    """Every key a spec takes, by table: (key, type, default, meaning). The types come from
    the spec reader's schema, the defaults from the classes the values end in, the meanings
    from the descriptions beside them."""
    from data_prep.pipeline import PrepareConfig
    from search.space.spec import DATA_KEY_DOCS, DATA_KEYS, STUDY_KEY_DOCS, STUDY_KEYS, StudySpec
    from vae.hyperparams import HYPERPARAMETER_DOCS, HYPERPARAMETERS, Hyperparameters

    def defaults(cls: type) -> dict[str, Any]:
        return {
            f.name: f.default
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING
        }

    hyper = {f.name: f for f in dataclasses.fields(Hyperparameters)}
    study, data, model = defaults(StudySpec), defaults(PrepareConfig), defaults(Hyperparameters)
    return {
        "study": [
            (k, t.__name__, study.get(k), STUDY_KEY_DOCS.get(k, "")) for k, t in STUDY_KEYS.items()
        ],
        "data": [
            (k, t.__name__, data.get(k), DATA_KEY_DOCS.get(k, "")) for k, t in DATA_KEYS.items()
        ],
        "training": [
            (k, str(hyper[k].type), model[k], HYPERPARAMETER_DOCS.get(k, ""))
            for k in HYPERPARAMETERS
        ],
    }


def spec_page() -> str:
    lines = [
        "# Spec keys",
        "",
        "Written from the spec reader's schema (`search/space/spec.py`) and the model's",
        "hyperparameters (`vae/hyperparams.py`) when the site is built. A spec is a TOML file of",
        "up to four tables; any other key is refused with the file and the key named. How to",
        "write one: [Planning a search](../guide/space.md).",
    ]
    intro = {
        "study": "How many trials, their seeds and how they are trained and scored.",
        "data": "The data preparation, as [`vae-search prepare`](cli.md#prepare) does it.",
        "training": (
            "The model's hyperparameters. Each one goes either in `[training]` (fixed) or in "
            "`[space]` (sampled: a list of choices, or a `scipy.stats` distribution such as "
            '`{ dist = "uniform", loc = 0.5, scale = 9.0 }`); one left out keeps its default.'
        ),
    }
    for table, keys in spec_keys().items():
        title = "`[training]` and `[space]`" if table == "training" else f"`[{table}]`"
        lines += ["", f"## {title}", "", intro[table], ""]
        lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for key, type_, default, meaning in keys:
            shown = "" if default is None else f"`{default}`"
            lines.append(f"| `{key}` | `{_cell(type_)}` | {_cell(shown)} | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


def public_names() -> dict[str, list[str]]:
    return {p: list(importlib.import_module(p).__all__) for p in API_PACKAGES}


def api_page() -> str:
    lines = [
        "# Python API",
        "",
        "The names a notebook calls, from their docstrings when the site is built: `search`'s",
        "(the search, stage by stage) and the few of the packages below it. Each `search` name",
        "is imported on first use, so `import search` stays light.",
    ]
    for package, names in public_names().items():
        lines += ["", f"## `{package}`", ""]
        for name in names:
            module = importlib.import_module(package)
            home = getattr(module, name).__module__ if package == "search" else package
            lines += [f"::: {home}.{name}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines) + "\n"


FIGURES_STUDY = "VAE_SEARCH_DOCS_STUDY"  # a scored study whose figures the site shows


def figures_page(study: str | None) -> tuple[str, dict[str, bytes]]:
    """The report's figures, each under the question it answers (``report``'s own titles);
    with ``study`` (a scored study directory) each drawn from it by ``report`` as the site is
    built, and the PNG files to put beside the page."""
    from search.outputs.report import QUESTIONS

    lines = [
        "# The report's figures",
        "",
        "`vae-search report --study DIR --out DIR/report` writes one PNG file per question",
        "below; a figure with nothing to show (one seed per configuration: no seed's share)",
        "is left out, and `report` prints why. Written from `search/outputs/report.py` when the",
        "site is built.",
        "",
    ]
    images: dict[str, bytes] = {}
    if study:
        import tempfile

        from search import report

        with tempfile.TemporaryDirectory() as out:
            written = report(study, out)
            images = {p.name: p.read_bytes() for p in written}
            skipped = written.skipped
        lines += [f"The pictures: the study `{Path(study).name}`, drawn as the site was built.", ""]
    else:
        skipped = {}
        lines += [
            "!!! note",
            f"    This build shows no pictures. Build with `{FIGURES_STUDY}=DIR` (a scored",
            "    study, e.g. the tour's `runs/tour`) to draw each figure from it:",
            f"    `{FIGURES_STUDY}=runs/tour mkdocs build`.",
            "",
        ]
    for name, question in QUESTIONS.items():
        lines += [f"## {question}", "", f"`{name}`", ""]
        if name in images:
            lines += [f"![{question}](figures/{name})", ""]
        elif name in skipped:
            lines += [f"Left out for this study: {skipped[name]}.", ""]
    return "\n".join(lines) + "\n", images


def undocumented(parser: argparse.ArgumentParser | None = None) -> list[str]:
    """Every command and option of ``parser`` (``vae-search``'s by default), spec key and
    public name that has no text of its own."""
    from search.cli import build_parser

    missing = []
    for name, help_, sub in commands(parser or build_parser()):
        if not help_.strip():
            missing.append(f"command {name}: no help")
        missing += [
            f"command {name}, option {'/'.join(a.option_strings) or a.dest}: no help"
            for a in options(sub)
            if not (a.help or "").strip() or a.help == argparse.SUPPRESS
        ]
    for table, keys in spec_keys().items():
        missing += [f"spec [{table}] {key}: no description" for key, *_, doc in keys if not doc]
    for package, names in public_names().items():
        module = importlib.import_module(package)
        missing += [
            f"{package}.{name}: no docstring"
            for name in names
            if not (getattr(getattr(module, name), "__doc__", None) or "").strip()
        ]
    return missing


def write_pages() -> None:
    import mkdocs_gen_files

    figures, images = figures_page(os.environ.get(FIGURES_STUDY))
    for path, text in (
        ("reference/cli.md", cli_page()),
        ("reference/spec.md", spec_page()),
        ("reference/api.md", api_page()),
        ("guide/outputs/figures.md", figures),
    ):
        with mkdocs_gen_files.open(path, "w") as page:
            page.write(text)
    for name, png in images.items():
        with mkdocs_gen_files.open(f"guide/outputs/figures/{name}", "wb") as file:
            file.write(png)


if __name__ in ("__main__", "<run_path>"):  # mkdocs-gen-files runs the script as <run_path>
    write_pages()
