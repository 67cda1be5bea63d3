"""ictp: Irreducible Cartesian Tensor Potentials (Zaverkin et al., NeurIPS 2024, arXiv:2405.14253)."""

__version__ = "0.1.0"

from .calculator import ICTPCalculator  # noqa: E402 (the deployed files record __version__)
from .model import ICTP  # noqa: E402

__all__ = ["ICTP", "ICTPCalculator", "__version__"]
