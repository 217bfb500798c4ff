"""The names of what the scoring stage stores, and its defaults, defined once.

This module imports nothing, so that the CLI's ``--help`` shows them without importing
scikit-learn or TensorFlow.
"""

SPLITS = ("train", "val", "test")
# The score spaces stored: input (MSE of reconstructions through sampled codings, mean and
# spread over the draws), input_mean (through the mean coding) and latent (KL divergence).
SPACES = ("input", "input_mean", "latent")
# The spaces a user ranks and predicts by, with the stored space each reads: a ranking in
# input space uses the sampled draws' mean, as the paper did; verdicts need a deterministic
# score, so predict and the report read the mean coding's.
RANK_SPACES = ("latent", "input")
DETERMINISTIC = {"latent": "latent", "input": "input_mean"}
# Each stored space's name in every output (tables, figures, show, predict), and what it is
SPACE_NAMES = {"input": "input", "input_mean": "input mean", "latent": "latent"}
SPACE_MEANINGS = {
    "input": "reconstruction MSE through sampled codings",
    "input_mean": "reconstruction MSE through the mean coding",
    "latent": "KL divergence",
}


def space_label(space: str) -> str:
    """A stored space's name with what it is: ``input mean (reconstruction MSE ...)``."""
    return f"{SPACE_NAMES[space]} ({SPACE_MEANINGS[space]})"


DEFAULT_SPACE, DEFAULT_METRIC = "latent", "ap"  # what rankings, reports and predict use
DEFAULT_REPEATS = 4  # sampled draws scored in input space
DEFAULT_BOOTSTRAP = 1000  # resamples of each split's cuts behind each score's interval
UNITS = ("window", "cut")  # what is scored: each window, or each cut (its windows' mean score)
CUT_METRICS = ("ap", "roc")  # over cuts: too few for the paper's 250-threshold grid


def score_name(split: str, space: str, unit: str, metric: str) -> str:
    """A stored score's name in exports and the dashboard: ``val_latent_ap`` per window,
    ``val_latent_cut_ap`` per cut."""
    return f"{split}_{space}_{metric}" if unit == UNITS[0] else f"{split}_{space}_{unit}_{metric}"


DEFAULT_ABNORMAL = (2,)  # tool classes counted as abnormal: failed only
# Alert tiers: each a percentile of the healthy validation windows' scores
DEFAULT_TIERS = {"watch": 99.5, "act": 99.95}
