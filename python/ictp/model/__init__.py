"""The ICTP model, its hyperparameters, its outputs and its files."""

from .config import PRODUCT_BASES, ModelConfig
from .ictp import ICTP
from .io import load_model, save_model
from .outputs import cell_volume, energy_derivatives, stress_from_virial
from .predict import evaluate_batch, predict

__all__ = [
    "ICTP", "PRODUCT_BASES", "ModelConfig", "cell_volume", "energy_derivatives", "evaluate_batch", "load_model", "predict",
    "save_model", "stress_from_virial",
]  # fmt: skip
