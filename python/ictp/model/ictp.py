"""The ICTP model: species, edge vectors and a graph in, per-atom energies out.

Zaverkin et al., "Higher-Rank Irreducible Cartesian Tensors for Equivariant
Message Passing", NeurIPS 2024 (arXiv:2405.14253). The forward pass reads as
the algorithm: embed species, then per layer an interaction (messages → atomic
basis A) and a product basis (A → new features), a readout per layer, and the
per-species scale, shift and reference energies. Forces and stress are
derivatives of the energy with respect to the edge vectors
(:mod:`ictp.model.outputs`).
"""

from typing import Optional, Sequence, Union

import torch
from ase.data import atomic_numbers as _ATOMIC_NUMBERS
from ase.data import chemical_symbols
from torch import nn

from ..nn.embedding import SpeciesEmbedding
from ..nn.interaction import InteractionBlock
from ..nn.product_basis import ProductBasisBlock
from ..nn.radial import RadialEmbedding
from ..nn.readout import LinearReadout, MLPReadout
from ..nn.tensor_product import ChannelwiseProduct, EdgeTensorProduct
from ..tensors.irreps import irreps_up_to
from ..tensors.representation import get_representation
from .predict import predict

__all__ = ["ICTP", "PRODUCT_BASES"]

PRODUCT_BASES = {
    "full": dict(symmetric=False, coupled=False),
    "sym": dict(symmetric=True, coupled=False),
    "sym+lt": dict(symmetric=True, coupled=True),
}
"""The paper's three product bases. ``sym+lt`` is our reading of the latent
variant: the symmetric product in a separate product-channel space
(``num_product_channels``) with channel mixing inside the path sum."""


def _atomic_number(species: Union[str, int]) -> int:
    if isinstance(species, str):
        if species not in _ATOMIC_NUMBERS or species == "X":
            raise ValueError(f"unknown element symbol {species!r}")
        return _ATOMIC_NUMBERS[species]
    if not 1 <= int(species) < len(chemical_symbols):
        raise ValueError(f"invalid atomic number {species}")
    return int(species)


class ICTP(nn.Module):
    """Irreducible Cartesian tensor potential.

    Parameters
    ----------
    species : element symbols or atomic numbers the model knows, in model order.
    r_max : cutoff radius (Å).
    num_channels : hidden channels F.
    num_product_channels : channels F_p of A and the product basis (default ``num_channels``).
    l_max_node : maximal rank of the hidden node features (spec default 1).
    l_max_edge : maximal rank of the edge harmonics and of A (spec default 3).
    correlation : correlation order ν of the product basis (body order ν + 1 per layer).
    num_layers : message-passing layers T; the receptive field is ``T · r_max``.
    num_bessel : radial Bessel functions.
    polynomial_p : exponent p of the polynomial envelope.
    radial_mlp : hidden widths of the radial MLP.
    readout_mlp : hidden widths of the last layer's readout MLP.
    product_basis : ``"full"``, ``"sym"`` or ``"sym+lt"`` (see :data:`PRODUCT_BASES`).
    odd_products : also use Levi-Civita (odd) products; node features then carry
        true and pseudo-tensors, and the energy stays invariant under reflections.
    avg_num_neighbors : n̄, divides the aggregated messages (set from the training data).
    atomic_energies : E0 per species (eV), dict ``{symbol: E0}`` or a sequence in model order.
    scale : energy scale s (eV), multiplies the network's atomic energies.
    shift : per-species shift μ (eV) added to E0, dict or sequence.
    representation : ``"compressed"`` (2l+1 coordinates, fast) or ``"dense"`` (3^l, reference).
    dtype : ``torch.float64`` or ``torch.float32``; never taken from the global default.
    seed : seed of the parameter initialisation; the global RNG state is restored afterwards.
    """

    __jit_unused_properties__ = ["dtype", "species"]

    def __init__(
        self,
        species: Sequence[Union[str, int]],
        r_max: float = 5.0,
        num_channels: int = 32,
        num_product_channels: Optional[int] = None,
        l_max_node: int = 1,
        l_max_edge: int = 3,
        correlation: int = 3,
        num_layers: int = 2,
        num_bessel: int = 8,
        polynomial_p: int = 5,
        radial_mlp: Sequence[int] = (64, 64, 64),
        readout_mlp: Sequence[int] = (16,),
        product_basis: str = "sym",
        odd_products: bool = False,
        avg_num_neighbors: float = 1.0,
        atomic_energies=None,
        scale: float = 1.0,
        shift=None,
        representation: str = "compressed",
        dtype: torch.dtype = torch.float64,
        seed: int = 0,
    ):
        super().__init__()
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if product_basis not in PRODUCT_BASES:
            raise ValueError(f"unknown product_basis {product_basis!r}; choose one of {sorted(PRODUCT_BASES)}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not r_max > 0:
            raise ValueError(f"r_max must be positive (Å), got {r_max}")
        if l_max_node > l_max_edge:
            raise ValueError(f"l_max_node ({l_max_node}) cannot exceed l_max_edge ({l_max_edge})")
        numbers = [_atomic_number(s) for s in species]
        if len(set(numbers)) != len(numbers) or not numbers:
            raise ValueError(f"species must be a non-empty list of distinct elements, got {list(species)}")
        num_product_channels = num_product_channels or num_channels
        rep = get_representation(representation)
        self.hyperparameters = dict(
            species=[chemical_symbols[z] for z in numbers], r_max=float(r_max), num_channels=num_channels,
            num_product_channels=num_product_channels, l_max_node=l_max_node, l_max_edge=l_max_edge,
            correlation=correlation, num_layers=num_layers, num_bessel=num_bessel, polynomial_p=polynomial_p,
            radial_mlp=list(radial_mlp), readout_mlp=list(readout_mlp), product_basis=product_basis,
            odd_products=odd_products, representation=representation,
            dtype=str(dtype).replace("torch.", ""), seed=seed,
        )  # fmt: skip
        self.r_max = float(r_max)
        self.num_layers = num_layers
        s = len(numbers)

        def per_species(value, name):
            if value is None:
                return torch.zeros(s, dtype=torch.float64)
            if isinstance(value, dict):
                lookup = {_atomic_number(k): float(v) for k, v in value.items()}
                missing = [chemical_symbols[z] for z in numbers if z not in lookup]
                if missing:
                    raise ValueError(f"{name} has no value for {missing}")
                return torch.tensor([lookup[z] for z in numbers], dtype=torch.float64)
            if len(value) != s:
                raise ValueError(f"{name} needs {s} values (one per species), got {len(value)}")
            return torch.tensor([float(v) for v in value], dtype=torch.float64)

        # Statistics of the training data; buffers so they are saved and exported with the weights.
        self.register_buffer("atomic_numbers", torch.tensor(numbers, dtype=torch.long))
        self.register_buffer("atomic_energies", per_species(atomic_energies, "atomic_energies"))
        self.register_buffer("shift", per_species(shift, "shift"))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float64))
        self.register_buffer("avg_num_neighbors", torch.tensor(float(avg_num_neighbors), dtype=torch.float64))

        irreps_edge = irreps_up_to(l_max_edge)
        irreps_a = irreps_up_to(l_max_edge, both_parities=odd_products)
        irreps_hidden = irreps_up_to(l_max_node, both_parities=odd_products)
        scalar = irreps_up_to(0)
        self.l_max_edge = l_max_edge
        # Block-diagonal: row block l reads vec(n̂^{⊗l}), column block l gives the rank-l coordinates.
        self.register_buffer(
            "harmonic_matrix", torch.block_diag(*[rep.harmonic_matrix(l) for l in range(l_max_edge + 1)])
        )

        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            self.embedding = SpeciesEmbedding(s, num_channels)
            self.radial_embedding = RadialEmbedding(r_max, num_bessel, polynomial_p)
            interactions, products, readouts = [], [], []
            for t in range(num_layers):
                irreps_in = scalar if t == 0 else irreps_hidden
                irreps_out = scalar if t == num_layers - 1 else irreps_hidden
                interactions.append(
                    InteractionBlock(
                        irreps_in, irreps_edge, irreps_a, irreps_out, num_channels, num_product_channels, s,
                        [num_bessel, *radial_mlp], odd_products, rep, skip=t > 0,
                    )
                )  # fmt: skip
                products.append(
                    ProductBasisBlock(
                        irreps_a, irreps_out, correlation, num_product_channels, num_channels, s,
                        odd_products=odd_products, rep=rep, **PRODUCT_BASES[product_basis],
                    )
                )  # fmt: skip
                last = t == num_layers - 1
                readouts.append(MLPReadout(num_channels, readout_mlp) if last else LinearReadout(num_channels))
        finally:
            torch.random.set_rng_state(generator_state)
        self.interactions = nn.ModuleList(interactions)
        self.products = nn.ModuleList(products)
        self.readouts = nn.ModuleList(readouts)
        # Everything is initialised in float64, so one seed gives the same model in either precision.
        self.to(dtype)

    def predict(self, atoms, stress: bool = False):
        """Energy, per-atom energies, forces and optionally stress for ASE ``Atoms`` (one or a list).

        See :func:`ictp.model.predict.predict`.
        """
        return predict(self, atoms, stress=stress)

    def set_kernels(self, name: str) -> "ICTP":
        """Choose how the tensor products run; the numbers are the same either way (to rounding).

        * ``"reference"`` (default): plain PyTorch, differentiable to any order (training,
          TorchScript, any device).
        * ``"fused"``: ictp's CPU kernels (:mod:`ictp.kernels`, compiled on first use), several
          times faster with far less memory, first derivatives only (energy, forces, stress).

        Returns the model. Raises :class:`ictp.native.NativeBuildError` if the kernels
        cannot be compiled here, ValueError for another name or a model not on the CPU.
        """
        if name not in ("reference", "fused"):
            raise ValueError(f"kernels must be 'reference' or 'fused', got {name!r}")
        if name == "fused":
            if self.scale.device.type != "cpu":
                raise ValueError(f"the fused kernels run on the CPU; this model is on {self.scale.device}")
            from .. import kernels

            kernels.load()
        for module in self.modules():
            if isinstance(module, (EdgeTensorProduct, ChannelwiseProduct)):
                module.fused = name == "fused"
        return self

    @property
    def dtype(self) -> torch.dtype:
        return self.scale.dtype

    @property
    def species(self):
        """Element symbols in model order."""
        return list(self.hyperparameters["species"])

    def edge_harmonics(self, unit_vectors: torch.Tensor) -> torch.Tensor:
        """Cartesian harmonics of rank 0..l_max_edge in the model's coordinates: ``[E, 3]`` → ``[E, dim_Y]``."""
        num_edges = unit_vectors.shape[0]
        power = torch.ones_like(unit_vectors[:, :1])
        powers = [power]
        for _ in range(self.l_max_edge):
            power = (power.unsqueeze(-1) * unit_vectors.unsqueeze(1)).reshape(num_edges, 3 * power.shape[1])
            powers.append(power)
        return torch.cat(powers, dim=1) @ self.harmonic_matrix

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom energies (eV).

        ``species [N]`` (model indices), ``edge_index [2, E]`` (receiver i, sender j),
        ``edge_vectors [E, 3]`` = ``r_i - r_j - shift`` (Å) → ``[N]``.
        """
        lengths = torch.linalg.vector_norm(edge_vectors, dim=1)
        harmonics = self.edge_harmonics(edge_vectors / lengths.clamp_min(1e-12).unsqueeze(-1))
        radial = self.radial_embedding(lengths)
        h = self.embedding(species)
        energy = torch.zeros_like(h[:, 0, 0])
        for interaction, product, readout in zip(self.interactions, self.products, self.readouts):
            a, sc = interaction(h, species, harmonics, radial, edge_index, self.avg_num_neighbors)
            h = product(a, species, sc)
            energy = energy + readout(h)
        return self.scale * energy + (self.shift + self.atomic_energies).index_select(0, species)
