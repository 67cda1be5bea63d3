"""The ICTP model and its outputs."""

from .ictp import ICTP, PRODUCT_BASES
from .outputs import energy_derivatives
from .predict import predict

__all__ = ["ICTP", "PRODUCT_BASES", "energy_derivatives", "predict"]
