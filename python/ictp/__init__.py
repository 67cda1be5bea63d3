"""ictp: Irreducible Cartesian Tensor Potentials (Zaverkin et al., NeurIPS 2024, arXiv:2405.14253)."""

from .model import ICTP

__version__ = "0.1.0"
__all__ = ["ICTP", "__version__"]
