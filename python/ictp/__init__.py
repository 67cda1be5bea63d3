"""ictp: Irreducible Cartesian Tensor Potentials (Zaverkin et al., NeurIPS 2024, arXiv:2405.14253)."""

__version__ = "0.2.0"
__all__ = ["ICTP", "ICTPCalculator", "__version__"]


def __getattr__(name):
    # Imported on first use, so that `ictp.lammps` (run by LAMMPS at start-up) does not load torch.
    if name == "ICTP":
        from .model import ICTP

        return ICTP
    if name == "ICTPCalculator":
        from .calculator import ICTPCalculator

        return ICTPCalculator
    raise AttributeError(f"module 'ictp' has no attribute {name!r}")
