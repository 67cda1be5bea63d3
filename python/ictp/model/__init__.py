"""The ICTP model and its outputs."""

from .ictp import ICTP, PRODUCT_BASES
from .io import load_model, save_model
from .outputs import energy_derivatives
from .predict import evaluate_batch, predict

__all__ = ["ICTP", "PRODUCT_BASES", "energy_derivatives", "evaluate_batch", "load_model", "predict", "save_model"]
