"""A faithful re-implementation of the reference study's data preparation loops.

Hahn & Mechefske's code (tvhahn/ml-tool-wear, ``data_prep.py`` and the notebook) prepares the
milling data with Python loops: ``create_tensor`` stacks a cut's signals with ``np.hstack`` and
walks its stable region one window at a time until a window no longer fits; ``return_xy`` does
that for each label row in CSV order; two stratified ``train_test_split`` calls split X; the
notebook's ``scaler`` rescales every window channel by channel; ``remove_classes`` collects
indices of unwanted classes in a loop and ``np.delete``s them.

This module repeats those steps loop for loop, so that the tests can check that our vectorized
pipeline gives the same windows in the same order, and the benchmark can time both. One change
is needed: the original compares each window's shape with ``(window, 6)`` and reshapes cuts to
9000 samples, which would keep no window from a five-signal file; here the channel count and
the cut length are those of the file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.io as sio
from sklearn.model_selection import train_test_split

REFERENCE_DROPPED_CUTS = (17, 94)


def create_tensor(record, signal_names, start, end, window, stride):
    """Windows of one cut, looping over positions until one falls short."""
    names = signal_names[::-1]
    length = record[names[0]].size
    stacked = record[names[0]].reshape((length, 1))
    for name in names[1:]:
        stacked = np.hstack((record[name].reshape((length, 1)), stacked))
    region = stacked[start:end]
    kept = []
    for i in range(region.shape[0]):
        candidate = region[i * stride : i * stride + window]
        if candidate.shape == (window, len(signal_names)):
            kept.append(candidate)
        else:
            break
    return np.array(kept)


def return_xy(df_labels, data, signal_names, window, stride):
    """Windows and classes of every label row, in CSV order."""
    per_cut, classes = [], []
    for row in df_labels.itertuples():
        per_cut.append(
            create_tensor(
                data[0, row.cut_no], signal_names, row.window_start, row.window_end, window, stride
            )
        )
        classes.append(row.tool_class)
    X, y = [], []
    for tool_class, windows in zip(classes, per_cut, strict=True):
        for w in windows:
            X.append(w)
            y.append(tool_class)
    return np.array(X), np.array(y)


def get_min_max(X):
    flat = np.concatenate(X)
    return np.min(flat, axis=0), np.max(flat, axis=0)


def scaler(X, low, high):
    """Rescale in place, window by window and channel by channel."""
    n, _, channels = np.shape(X)
    for i in range(n):
        for j in range(channels):
            X[i, :, j] = np.divide(X[i, :, j] - low[j], np.abs(high[j] - low[j]))
    return X


def remove_classes(classes_to_remove, y, X):
    to_delete = []
    for i, tool_class in enumerate(y):
        if tool_class in classes_to_remove:
            to_delete.append(i)
    return np.delete(X, to_delete, axis=0), np.delete(y, to_delete)


def reference_prepare(mat_path, labels_path, window=64, stride=64):
    """The reference pipeline end to end; returns its arrays by our names (float64 X)."""
    data = sio.loadmat(mat_path, struct_as_record=True)["mill"]
    signal_names = data.dtype.names[7:]
    df_labels = pd.read_csv(labels_path)
    df_labels = df_labels.drop(list(REFERENCE_DROPPED_CUTS))
    X, y = return_xy(df_labels, data, signal_names, window, stride)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.33, random_state=15, stratify=y
    )
    X_val, X_test, y_val, y_test = train_test_split(
        X_test, y_test, test_size=0.50, random_state=10, stratify=y_test
    )
    low, high = get_min_max(X_train)
    X_train = scaler(X_train, low, high)
    X_val = scaler(X_val, low, high)
    X_test = scaler(X_test, low, high)
    X_train_slim, _ = remove_classes([1, 2], y_train, X_train)
    X_val_slim, _ = remove_classes([1, 2], y_val, X_val)
    return {
        "X_train": X_train,
        "y_train": y_train,
        "X_val": X_val,
        "y_val": y_val,
        "X_test": X_test,
        "y_test": y_test,
        "X_train_slim": X_train_slim,
        "X_val_slim": X_val_slim,
        "scaler_min": low,
        "scaler_max": high,
    }
