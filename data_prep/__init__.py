"""Data preparation for vae-search: arrays only, no TensorFlow.

Load the milling MAT file, drop corrupted cuts, cut stable regions into windows, split them
(the reference study's way or leakage-free by cut), scale on the training range and save.
"""

from data_prep.download import fetch_mill
from data_prep.errors import DataFileError, InputError, ParameterError
from data_prep.labels import CLASS_NAMES, classes_from_vb, fill_missing_vb, read_labels
from data_prep.locations import data_dir, labels_file, mill_file
from data_prep.mill import load_mill
from data_prep.pipeline import PrepareConfig, prepare, prepare_cached, summary_lines
from data_prep.prepared import PreparedData, load_prepared, save_prepared

__all__ = [
    "CLASS_NAMES",
    "DataFileError",
    "InputError",
    "ParameterError",
    "PrepareConfig",
    "PreparedData",
    "classes_from_vb",
    "data_dir",
    "fetch_mill",
    "fill_missing_vb",
    "labels_file",
    "load_mill",
    "load_prepared",
    "mill_file",
    "prepare",
    "prepare_cached",
    "read_labels",
    "save_prepared",
    "summary_lines",
]
