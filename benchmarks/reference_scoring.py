"""A faithful re-implementation of the reference study's scoring (``SelectThreshold``).

Hahn & Mechefske's ``threshold.py`` (tvhahn/ml-tool-wear) scores a model per search iteration:
``model.predict`` on the full training and validation sets (batch 64, sampled codings), the
MSE per window, then ``threshold_grid_search``: for each threshold of
``np.arange(min, max, |max - min| / grid_iterations)`` it builds a pandas DataFrame of the
scores, flags windows with score >= threshold, computes a ROC-AUC of those flags, counts
TP/FP/TN/FN with four DataFrame filters and appends precision and recall (skipping the point
on ZeroDivisionError); PR-AUC is ``sklearn.metrics.auc(recalls, precisions)``.

Per threshold the original also builds, window by window in Python loops, a class-name column
(``"<class>, <name>"``) and the -1 / 1 true-class column by testing each label's membership in
``class_to_remove`` (a NumPy array, ``np.array([2], dtype="uint8")`` in its notebook); those
loops are kept here, since they are part of what one scoring cost. Its ``predict`` calls print
a progress bar (``verbose=1``); ours are silent (``verbose=0``), which only flatters it.

This module repeats those steps, so that the tests check ``vae.metrics.paper_pr_auc``
against it and the benchmark can time both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import auc, roc_auc_score

from data_prep.labels import CLASS_NAMES


def create_df_reconstruction(y, scores, threshold, class_to_remove, class_names=CLASS_NAMES):
    df = pd.DataFrame(data=scores, columns=["metric"])
    numbered_names = list(zip(class_names, range(len(class_names)), strict=True))
    names = []
    for label in y:
        names.append(str(label) + ", " + numbered_names[label][0])
    df["class"] = y
    df["class_names"] = names
    # -1 (outlier) is the positive class, 1 (inlier) the negative one, as the reference
    true_class = []
    for label in y:
        if label in class_to_remove:
            true_class.append(-1)
        else:
            true_class.append(1)
    df["true_class"] = true_class
    df["prediction"] = np.where(df["metric"] >= threshold, -1, 1)
    return df


def threshold_grid_search(y, class_to_remove, lower_bound, upper_bound, scores, grid_iterations):
    precisions, recalls = [], []
    for threshold in np.arange(
        lower_bound, upper_bound, np.abs(upper_bound - lower_bound) / grid_iterations
    ):
        df = create_df_reconstruction(y, scores, threshold, class_to_remove)
        roc_auc_score(df["true_class"], df["prediction"])  # computed per threshold, as there
        tp = len(df[(df["true_class"] == -1) & (df["prediction"] == -1)])
        fp = len(df[(df["true_class"] == 1) & (df["prediction"] == -1)])
        tn = len(df[(df["true_class"] == 1) & (df["prediction"] == 1)])
        fn = len(df[(df["true_class"] == -1) & (df["prediction"] == 1)])
        try:
            precision = tp / (tp + fp)
            recall = tp / (tp + fn)
            _rates = (tp / (tp + fn), fp / (fp + tn))  # its TPR, FPR: ZeroDivisionError skips too
        except ZeroDivisionError:
            continue
        precisions.append(precision)
        recalls.append(recall)
    return precisions, recalls


def reference_pr_auc(y, abnormal_classes, scores, grid_iterations=250):
    """The paper metric as the original computed it; ``y`` holds class numbers (0, 1, 2)."""
    class_to_remove = np.array(abnormal_classes, dtype="uint8")
    precisions, recalls = threshold_grid_search(
        y, class_to_remove, np.min(scores), np.max(scores), scores, grid_iterations
    )
    return auc(recalls, precisions)


def mse(X, reconstruction):
    return np.mean(np.mean(np.square(X - reconstruction), axis=1), axis=1)


def reference_score(model, data, abnormal_classes, search_iterations, grid_iterations=250):
    """The reference loop over search iterations: predict, MSE, grid search, per split.

    The original scored the training and validation sets per iteration; the test set is
    scored here too, so both sides cover the splits our scorer does. Returns {split: mean
    PR-AUC over the iterations}, input space only, as the original.
    """
    results = {"train": [], "val": [], "test": []}
    for _ in range(search_iterations):
        for split in results:
            X, y, _ = data.split(split)
            reconstruction = model.predict(X, batch_size=64, verbose=0)
            scores = mse(X, reconstruction)
            results[split].append(reference_pr_auc(y, abnormal_classes, scores, grid_iterations))
    return {split: float(np.mean(values)) for split, values in results.items()}
