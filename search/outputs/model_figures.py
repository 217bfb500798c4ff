"""The report's pictures of one model and of the signals: what a reviewer looks at before
trusting a detector.

- ``signal_heatmap``: test PR-AUC of each signal's reconstruction error alone (rows) for the top
  models (columns): which sensor the alarms rest on, and whether that holds across models;
- ``reconstructions``: a healthy and a failed cut of the test split, each signal with its
  reconstruction through the mean coding, window after window (the windows a split holds of a
  cut need not be adjacent in time: a grey line separates them); the share of reconstructed
  values outside [0, 1], where binary cross-entropy gives no gradient, is in the title;
- ``latent_means``: the validation windows' latent means in two dimensions (PCA), by class;
- ``learning_curves``: the training and validation loss, reconstruction and KL terms apart, as
  the model's manifest recorded them per epoch (KL in nats, before β / (window x signals)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data_prep.labels import CLASS_NAMES
from data_prep.prepared import PreparedData
from search.evaluation.diagnostics import SIGNAL_METRIC
from studies.diagnostics import SignalScore
from studies.results import WINDOW, Ranked

HEATMAP_MODELS = 10  # columns: more stop being legible
WINDOWS_SHOWN = 6  # windows of each cut in the reconstruction figure
FAILED = 2


def signal_heatmap(ranked: Sequence[Ranked], signals: dict[str, list[SignalScore]]):
    """Signals x the top models by validation, each cell the signal's test PR-AUC alone."""
    import matplotlib.pyplot as plt

    top = [r for r in ranked if r.name in signals][:HEATMAP_MODELS]
    names = list(dict.fromkeys(s.signal for r in top for s in signals[r.name]))
    values = np.full((len(names), len(top)), np.nan)
    for column, r in enumerate(top):
        for s in signals[r.name]:
            if (s.split, s.unit, s.metric) == (
                "test",
                WINDOW,
                SIGNAL_METRIC,
            ) and s.value is not None:
                values[names.index(s.signal), column] = s.value
    figure, ax = plt.subplots(figsize=(2 + 0.9 * max(len(top), 1), 1.5 + 0.5 * len(names)))
    image = ax.imshow(values, cmap="viridis", vmin=0, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(len(top)), [f"#{r.rank}" for r in top])
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="model (rank by validation)", title="test PR-AUC of each signal alone")
    figure.colorbar(image, ax=ax, label="average precision")
    return figure


def _cut_windows(data: PreparedData, split: str, tool_class: int) -> tuple[int, np.ndarray] | None:
    """(cut, windows) of the split's cut of ``tool_class`` with the most windows there."""
    X, y, cut_no = data.split(split)
    cuts, counts = np.unique(cut_no[y == tool_class], return_counts=True)
    if not len(cuts):
        return None
    cut = int(cuts[np.argmax(counts)])
    return cut, X[cut_no == cut][:WINDOWS_SHOWN]


def reconstructions(model, data: PreparedData, name: str, split: str = "test"):
    """A healthy and a failed cut: each signal (rows) and its reconstruction, in two columns."""
    import matplotlib.pyplot as plt

    shown = {
        cls: found for cls in (0, FAILED) if (found := _cut_windows(data, split, cls)) is not None
    }
    signals = data.signal_names
    figure, axes = plt.subplots(
        len(signals), max(len(shown), 1), figsize=(13, 1.6 * len(signals)), squeeze=False
    )
    for column, (cls, (cut, X)) in enumerate(shown.items()):
        mean, _ = model.codings(X)
        rebuilt = np.asarray(model.decoder(mean, training=False))
        outside = float(np.mean((rebuilt < 0) | (rebuilt > 1)))
        for row, signal in enumerate(signals):
            ax = axes[row, column]
            ax.plot(X[:, :, row].ravel(), color="k", lw=0.7, label="signal")
            ax.plot(rebuilt[:, :, row].ravel(), color="C3", lw=0.7, label="reconstruction")
            for edge in range(1, len(X)):
                ax.axvline(edge * data.window, color="grey", lw=0.5, alpha=0.5)
            ax.set_ylabel(signal, fontsize=8)
        axes[0, column].set_title(
            f"{CLASS_NAMES[cls]} cut {cut} ({split}, {len(X)} windows): "
            f"{outside:.0%} of reconstructed values outside [0, 1]",
            fontsize=9,
        )
        axes[-1, column].set_xlabel("sample (scaled signal, windows one after another)")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    figure.suptitle(f"model: {name}", fontsize=8)
    figure.tight_layout()
    return figure


def latent_means(model, data: PreparedData, name: str):
    """The validation windows' latent means projected on their first two principal axes."""
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    means = np.concatenate(
        [
            np.asarray(model.codings(data.X_val[i : i + 1024])[0])
            for i in range(0, len(data.X_val), 1024)
        ]
    )
    pca = PCA(n_components=min(2, means.shape[1]), random_state=0).fit(means)
    points = pca.transform(means)
    if points.shape[1] == 1:
        points = np.column_stack([points, np.zeros(len(points))])
    figure, ax = plt.subplots(figsize=(7, 6))
    for cls, class_name in enumerate(CLASS_NAMES):
        mine = data.y_val == cls
        ax.scatter(*points[mine].T, s=6, alpha=0.5, color=f"C{cls}", label=class_name)
    share = pca.explained_variance_ratio_
    ax.set(
        xlabel=f"PC 1 ({share[0]:.0%} of the variance)",
        ylabel=f"PC 2 ({share[1]:.0%})" if len(share) > 1 else "",
        title="validation windows' latent means (PCA)",
    )
    ax.legend(markerscale=3)
    figure.suptitle(f"model: {name}", fontsize=8)
    return figure


def learning_curves(history: dict[str, list[float]], name: str):
    """Loss, reconstruction and KL per epoch, training and validation, each in its panel."""
    import matplotlib.pyplot as plt

    terms = {
        "loss": "loss (reconstruction + β KL / (window x signals))",
        "reconstruction": "reconstruction (binary cross-entropy)",
        "kl": "KL divergence (nats)",
    }
    figure, axes = plt.subplots(1, len(terms), figsize=(15, 4))
    for ax, (term, title) in zip(axes, terms.items(), strict=True):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = np.asarray(history.get(prefix + term, []), dtype=float)
            if len(values):
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, label=("validation" if prefix else "training"))
        ax.set(title=title, xlabel="epoch")
        finite = [v for k in (term, "val_" + term) for v in history.get(k, []) if np.isfinite(v)]
        if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
            ax.set_yscale("log")  # a first epoch's overflowing KL would flatten the rest
        ax.legend(fontsize=8)
    figure.suptitle(f"learning curves: {name}", fontsize=8)
    figure.tight_layout()
    return figure
