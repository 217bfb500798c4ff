"""Commands on the raw data: fetch NASA's mill.mat, and prepare windows from it."""

from __future__ import annotations

import argparse
from pathlib import Path

from data_prep.splits import SPLITS
from search.cli.common import add_data_options, csv_list, data_files, thresholds, writable_output


def cmd_download(args: argparse.Namespace) -> int:
    from data_prep.download import NASA_MILLING_URL, fetch_mill

    print(fetch_mill(args.data_dir, args.url or NASA_MILLING_URL))
    return 0


def add_download(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "download",
        help="fetch the original six-signal mill.mat from NASA (once; sha256 checked)",
        description=(
            "Download NASA's milling archive, take mill.mat out of its nested zip files, check "
            "its sha256 and write it to DIR/mill.mat; a mill.mat already there is kept. The "
            "labels CSV is not part of NASA's archive."
        ),
    )
    p.add_argument(
        "--data-dir",
        "--dir",
        type=Path,
        default=None,
        help="where mill.mat goes ($VAE_SEARCH_DATA, else the user's data directory, where "
        "the other commands look for it)",
    )
    p.add_argument("--url", default=None, help="a mirror of NASA's archive (NASA's own)")
    p.set_defaults(handler=cmd_download)


def cmd_prepare(args: argparse.Namespace) -> int:
    from data_prep.files import copy_atomically
    from data_prep.pipeline import PrepareConfig, prepare, prepare_cached, summary_lines
    from data_prep.prepared import load_prepared, save_prepared

    config = PrepareConfig(
        *data_files(args),
        window=args.window,
        stride=args.stride,
        split=args.split,
        seed=args.seed,
        signals=args.signals,
        thresholds=args.thresholds,
    )
    out = writable_output(Path(args.out))
    if args.no_cache:
        save_prepared(prepare(config), out)
        origin = "prepared"
    else:
        cached, hit = prepare_cached(config, args.cache_dir)
        copy_atomically(cached, out)
        origin = "from cache" if hit else "prepared"
    data = load_prepared(out)
    print("\n".join(summary_lines(data)))
    print(f"wrote {out} ({origin}; sha256 {data.sha256[:16]})")
    return 0


def add_prepare(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="window, split and scale the milling data into an .npz file",
        description=(
            "Load the milling MAT file, drop corrupted cuts, cut each stable region into "
            "windows, split train/validation/test and min-max scale on the training split."
        ),
    )
    add_data_options(p, "mill.mat, five or six signals (DATA_DIR/mill.mat)")
    p.add_argument("--out", required=True, type=Path, help="the .npz file to write")
    p.add_argument("--window", type=int, default=64, help="window size in samples (64)")
    p.add_argument("--stride", type=int, default=64, help="step between windows (64)")
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="paper",
        help="paper: the reference study's split by window; cut: leakage-free, by whole cut",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the cut split (0)")
    p.add_argument(
        "--signals", type=csv_list, default=None, help="comma-separated signal fields (all)"
    )
    p.add_argument(
        "--thresholds",
        type=thresholds,
        default=None,
        help="VB thresholds in mm, e.g. 0.2,0.7: derive classes from wear instead of the CSV",
    )
    p.add_argument("--cache-dir", type=Path, default=None, help="cache (~/.cache/vae-search)")
    p.add_argument("--no-cache", action="store_true", help="prepare even if cached")
    p.set_defaults(handler=cmd_prepare)
