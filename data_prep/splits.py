"""Train / validation / test splits: the reference study's, and a leakage-free one by cut.

Both return index arrays into the windows, so the windows themselves are copied only once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_prep.errors import ParameterError, check_choice

# The reference study's fractions and seeds: 33 % held out, then halved into validation and test.
HOLDOUT_FRACTION = 0.33
PAPER_SEEDS = (15, 10)
SPLITS = ("paper", "cut")


@dataclass(frozen=True)
class SplitIndices:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def paper_split(tool_class: np.ndarray) -> SplitIndices:
    """The reference split: windows stratified by class, whatever cut they come from.

    Windows of one cut land in train and test alike, so scores on this split are optimistic;
    it exists to reproduce the paper. ``train_test_split`` shuffles by ``y`` and the number of
    samples only, so splitting indices gives the very permutation the reference got on X.
    """
    from sklearn.model_selection import train_test_split

    seed_first, seed_second = PAPER_SEEDS
    index = np.arange(len(tool_class))
    train, rest = train_test_split(
        index, test_size=HOLDOUT_FRACTION, random_state=seed_first, stratify=tool_class
    )
    val, test = train_test_split(
        rest, test_size=0.5, random_state=seed_second, stratify=tool_class[rest]
    )
    return SplitIndices(train=train, val=val, test=test)


def cut_split(cut_no: np.ndarray, tool_class: np.ndarray, seed: int) -> SplitIndices:
    """Whole cuts go to train, validation or test, stratified by the cut's class.

    No window of a validation or test cut is ever trained on. Windows keep their original
    order inside each split.
    """
    from sklearn.model_selection import train_test_split

    cuts, first = np.unique(cut_no, return_index=True)
    cut_class = tool_class[first]
    try:
        train_cuts, rest_cuts = train_test_split(
            cuts, test_size=HOLDOUT_FRACTION, random_state=seed, stratify=cut_class
        )
        val_cuts, test_cuts = train_test_split(
            rest_cuts,
            test_size=0.5,
            random_state=seed + 1,
            stratify=cut_class[np.searchsorted(cuts, rest_cuts)],
        )
    except ValueError as exc:
        counts = ", ".join(
            f"class {c}: {n}"
            for c, n in zip(*np.unique(cut_class, return_counts=True), strict=True)
        )
        raise ParameterError(
            "split", f"cut: {len(cuts)} cuts ({counts}) are too few to stratify by cut ({exc})"
        ) from None

    def windows_of(split_cuts: np.ndarray) -> np.ndarray:
        return np.flatnonzero(np.isin(cut_no, split_cuts))

    return SplitIndices(
        train=windows_of(train_cuts), val=windows_of(val_cuts), test=windows_of(test_cuts)
    )


def split_windows(
    split: str, cut_no: np.ndarray, tool_class: np.ndarray, seed: int
) -> SplitIndices:
    check_choice("split", split, SPLITS)
    if split == "paper":
        return paper_split(tool_class)
    return cut_split(cut_no, tool_class, seed)
