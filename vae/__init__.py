"""The TCN β-VAE: model, training, naming and saving (no database).

The names here import no TensorFlow; ``vae.model``, ``vae.training`` and ``vae.keras2_import``
do, and are imported by what trains or builds a model.
"""

from vae.hyperparams import HYPERPARAMETERS, HyperparameterError, Hyperparameters
from vae.naming import ModelName, name_for, parse_name
from vae.storage import ModelFileError, SavedModel, load_model, read_manifest, save_model

__all__ = [
    "HYPERPARAMETERS",
    "HyperparameterError",
    "Hyperparameters",
    "ModelFileError",
    "ModelName",
    "SavedModel",
    "load_model",
    "name_for",
    "parse_name",
    "read_manifest",
    "save_model",
]
