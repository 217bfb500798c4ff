"""The spec command: list the built-in specs, or print one to copy and edit."""

from __future__ import annotations

import argparse

from data_prep.errors import InputError


def cmd_spec(args: argparse.Namespace) -> int:
    from search.space.spec import builtin_specs

    specs = builtin_specs()
    if args.name is None:
        for name, path in specs.items():
            print(f"{name:<12}{_first_comment(path.read_text(encoding='utf-8'))}")
        return 0
    if args.name not in specs:
        raise InputError(f"no built-in spec {args.name!r} (built-in specs: {', '.join(specs)})")
    print(specs[args.name].read_text(encoding="utf-8"), end="")
    return 0


def _first_comment(text: str) -> str:
    """What a spec's first comment line says of it (blank if it has none)."""
    first = text.splitlines()[0] if text else ""
    return first.removeprefix("#").strip() if first.startswith("#") else ""


def add_spec(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "spec",
        help="list the built-in specs, or print one to copy: vae-search spec smoke > my.toml",
        description=(
            "Without a name, list the specs shipped with vae-search, one line each. With a "
            "name, print that spec's TOML, to save, edit and pass to launch --spec."
        ),
    )
    p.add_argument(
        "name", nargs="?", default=None, help="a built-in spec: paper, paper-best, smoke"
    )
    p.set_defaults(handler=cmd_spec)
