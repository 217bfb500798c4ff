"""The best-of-N figure: how good is the model validation picks among N trainings?"""

from __future__ import annotations

from search.evaluation.selection import BAND, Comparison


def best_of_n_figure(comparison: Comparison, score_name: str, chance: float):
    """The expected test score of the validation-chosen training against N, with its band,
    the best baseline's line and chance (None: fewer than two trainings, nothing to show).
    ``report`` titles it with its question."""
    if len(comparison.curve) < 2:
        return None
    import matplotlib.pyplot as plt

    n = [point.n for point in comparison.curve]
    figure, ax = plt.subplots(figsize=(7, 4.5))
    ax.fill_between(
        n,
        [point.low for point in comparison.curve],
        [point.high for point in comparison.curve],
        color="C0",
        alpha=0.2,
        step="mid",
        label=f"{BAND[0]:g}-{BAND[1]:g} % of the chosen model's test score",
    )
    ax.plot(
        n,
        [point.expected for point in comparison.curve],
        "o-",
        color="C0",
        label="expected test score of the model chosen on validation",
    )
    if comparison.baseline_test is not None:
        ax.axhline(
            comparison.baseline_test, color="C3", ls="--", label=f"{comparison.baseline} (test)"
        )
    ax.axhline(chance, color="grey", ls=":", label=f"chance ({chance:.3f})")
    ax.set_xlabel("trainings N the choice is made among (drawn from this study's)")
    ax.set_ylabel(f"test {score_name}")
    ax.set_xlim(1, max(n))
    ax.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure
