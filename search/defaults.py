"""Scoring defaults shared by the library and the command line.

They live in a module that imports nothing, so that ``vae-search --help`` can show them
without importing scikit-learn and TensorFlow, as ``search.scoring`` does.
"""

DEFAULT_REPEATS = 4  # sampled draws scored in input space
DEFAULT_ABNORMAL = (2,)  # tool classes counted as abnormal: failed only
