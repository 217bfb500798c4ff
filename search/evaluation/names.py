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
DEFAULT_SPACE, DEFAULT_METRIC = "latent", "ap"  # what rankings, reports and predict use
DEFAULT_REPEATS = 4  # sampled draws scored in input space
DEFAULT_ABNORMAL = (2,)  # tool classes counted as abnormal: failed only
