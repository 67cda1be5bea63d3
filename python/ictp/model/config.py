"""The hyperparameters of an ICTP model, written once.

:class:`ModelConfig` is what :class:`ictp.ICTP` takes, what the training
configuration derives from (its model keys are these fields), and what model
files and deployed files store as ``hyperparameters``. Training-set statistics
(n̄, E0, scale, shift) are not hyperparameters: they are buffers of the model,
saved with its weights.
"""

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from ase.data import atomic_numbers as _ATOMIC_NUMBERS
from ase.data import chemical_symbols

__all__ = ["DTYPES", "PRODUCT_BASES", "ModelConfig", "atomic_number", "dtype_name"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
"""The model's precisions by the names that configs and metadata use."""

PRODUCT_BASES = {
    "full": dict(symmetric=False, coupled=False),
    "sym": dict(symmetric=True, coupled=False),
    "sym+lt": dict(symmetric=True, coupled=True),
}
"""The paper's three product bases. ``sym+lt`` is our reading of the latent
variant: the symmetric product in a separate product-channel space
(``num_product_channels``) with channel mixing inside the path sum."""


def dtype_name(dtype: Union[str, torch.dtype]) -> str:
    """``"float32"`` or ``"float64"`` for a name or a torch dtype; anything else is a ValueError."""
    name = str(dtype).replace("torch.", "")
    if name not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return name


def atomic_number(species: Union[str, int]) -> int:
    """The atomic number of an element symbol or number; unknown ones are a ValueError."""
    if isinstance(species, str):
        if species not in _ATOMIC_NUMBERS or species == "X":
            raise ValueError(f"unknown element symbol {species!r}")
        return _ATOMIC_NUMBERS[species]
    if not 1 <= int(species) < len(chemical_symbols):
        raise ValueError(f"invalid atomic number {species}")
    return int(species)


@dataclass
class ModelConfig:
    """Hyperparameters of an ICTP model (arXiv:2405.14253), with the spec's defaults.

    Attributes
    ----------
    species : element symbols or atomic numbers the model knows, in model order.
    r_max : cutoff radius (Å).
    num_channels : hidden channels F.
    num_product_channels : channels F_p of A and the product basis (default ``num_channels``).
    l_max_node : maximal rank of the hidden node features.
    l_max_edge : maximal rank of the edge harmonics and of A.
    correlation : correlation order ν of the product basis (body order ν + 1 per layer).
    num_layers : message-passing layers T; the receptive field is ``T · r_max``.
    num_bessel : radial Bessel functions.
    polynomial_p : exponent p of the polynomial envelope.
    radial_mlp : hidden widths of the radial MLP.
    readout_mlp : hidden widths of the last layer's readout MLP.
    product_basis : ``"full"``, ``"sym"`` or ``"sym+lt"`` (see :data:`PRODUCT_BASES`).
    odd_products : also use Levi-Civita (odd) products; node features then carry
        true and pseudo-tensors, and the energy stays invariant under reflections.
    representation : ``"compressed"`` (2l+1 coordinates, fast) or ``"dense"`` (3^l, reference).
    dtype : ``"float64"`` or ``"float32"`` (or the torch dtype); never taken from the global default.
    seed : seed of the parameter initialisation; the global RNG state is restored afterwards.
    """

    species: Optional[List[Union[str, int]]] = None
    r_max: float = 5.0
    num_channels: int = 32
    num_product_channels: Optional[int] = None
    l_max_node: int = 1
    l_max_edge: int = 3
    correlation: int = 3
    num_layers: int = 2
    num_bessel: int = 8
    polynomial_p: int = 5
    radial_mlp: List[int] = field(default_factory=lambda: [64, 64, 64])
    readout_mlp: List[int] = field(default_factory=lambda: [16])
    product_basis: str = "sym"
    odd_products: bool = False
    representation: str = "compressed"
    dtype: str = "float64"
    seed: int = 0

    def resolve(self, species: Optional[Sequence[Union[str, int]]] = None) -> "ModelConfig":
        """These hyperparameters checked and in the form that model files store.

        ``species`` (if given) replaces ``self.species``. The result is a plain
        ModelConfig (also when called on a training config) with element
        symbols, ``num_product_channels`` filled in and ``dtype`` by name.
        """
        self.check()
        values = {f.name: getattr(self, f.name) for f in fields(ModelConfig)}
        species = values["species"] if species is None else species
        if not isinstance(species, (list, tuple)):
            raise ValueError(f"species must be a list of elements such as [H, C, O], got {species!r}")
        try:
            numbers = [atomic_number(s) for s in species]
        except ValueError as error:
            raise ValueError(f"species {list(species)}: {error}; use element symbols such as H, C, O") from None
        if len(set(numbers)) != len(numbers) or not numbers:
            raise ValueError(f"species must be a non-empty list of distinct elements, got {species}")
        values.update(
            species=[chemical_symbols[z] for z in numbers], r_max=float(self.r_max),
            num_product_channels=self.num_product_channels or self.num_channels,
            radial_mlp=list(self.radial_mlp), readout_mlp=list(self.readout_mlp), dtype=dtype_name(self.dtype),
        )  # fmt: skip
        return ModelConfig(**values)

    def check(self) -> None:
        """ValueError naming the key for a value no model can have (the species are checked by :meth:`resolve`)."""
        for name in ("radial_mlp", "readout_mlp"):
            widths = getattr(self, name)
            if not isinstance(widths, (list, tuple)) or not all(_is_int(w) and w > 0 for w in widths):
                raise ValueError(f"{name} must be a list of positive layer widths such as [64, 64], got {widths!r}")
        for name, low in (("num_channels", 1), ("correlation", 1), ("num_layers", 1), ("num_bessel", 1),
                          ("polynomial_p", 1), ("l_max_node", 0), ("l_max_edge", 0)):  # fmt: skip
            if not (_is_int(getattr(self, name)) and getattr(self, name) >= low):
                raise ValueError(f"{name} must be an integer >= {low}, got {getattr(self, name)!r}")
        product_channels = self.num_product_channels
        if product_channels is not None and not (_is_int(product_channels) and product_channels > 0):
            raise ValueError(f"num_product_channels must be a positive integer (or null), got {product_channels!r}")
        if self.product_basis not in PRODUCT_BASES:
            raise ValueError(f"unknown product_basis {self.product_basis!r}; choose one of {sorted(PRODUCT_BASES)}")
        if not (isinstance(self.r_max, (int, float)) and math.isfinite(self.r_max) and self.r_max > 0):
            raise ValueError(f"r_max must be a positive number of Å, got {self.r_max!r}")
        if self.l_max_node > self.l_max_edge:
            raise ValueError(f"l_max_node ({self.l_max_node}) cannot exceed l_max_edge ({self.l_max_edge})")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
