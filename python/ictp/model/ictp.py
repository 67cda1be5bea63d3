"""The ICTP model: species, edge vectors and a graph in, per-atom energies out.

Zaverkin et al., "Higher-Rank Irreducible Cartesian Tensors for Equivariant
Message Passing", NeurIPS 2024 (arXiv:2405.14253). The forward pass reads as
the algorithm: embed species, then per layer an interaction (messages → atomic
basis A) and a product basis (A → new features), a readout per layer, and the
per-species scale, shift and reference energies. Forces and stress are
derivatives of the energy with respect to the edge vectors
(:mod:`ictp.model.outputs`).
"""

from typing import Optional, Sequence, Tuple, Union

import torch
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
from .config import DTYPES, PRODUCT_BASES, ModelConfig, atomic_number, dtype_name
from .predict import predict

__all__ = ["ICTP"]


def _per_species(value, numbers: Sequence[int], name: str) -> torch.Tensor:
    """One float64 value per species from None (zeros), a dict ``{element: value}`` or a sequence in model order."""
    if value is None:
        return torch.zeros(len(numbers), dtype=torch.float64)
    if isinstance(value, dict):
        lookup = {atomic_number(k): float(v) for k, v in value.items()}
        missing = [chemical_symbols[z] for z in numbers if z not in lookup]
        if missing:
            raise ValueError(f"{name} has no value for {missing}")
        return torch.tensor([lookup[z] for z in numbers], dtype=torch.float64)
    if len(value) != len(numbers):
        raise ValueError(f"{name} needs {len(numbers)} values (one per species), got {len(value)}")
    return torch.tensor([float(v) for v in value], dtype=torch.float64)


class ICTP(nn.Module):
    """Irreducible Cartesian tensor potential.

    Parameters
    ----------
    species : element symbols or atomic numbers the model knows, in model order
        (default: ``config.species``).
    config : the hyperparameters, a :class:`ModelConfig` (a training config works
        too); or give them as keywords (``**hyperparameters``), not both.
    avg_num_neighbors : n̄, divides the aggregated messages (set from the training data).
    atomic_energies : E0 per species (eV), dict ``{symbol: E0}`` or a sequence in model order.
    scale : energy scale s (eV), multiplies the network's atomic energies.
    shift : per-species shift μ (eV) added to E0, dict or sequence.
    **hyperparameters : fields of :class:`ModelConfig` (``r_max``, ``num_channels``,
        ``l_max_edge``, ``correlation``, ``product_basis``, ``dtype``, ``seed``, ...),
        documented there with their defaults.

    Examples
    --------
    >>> model = ICTP(["H", "O"], r_max=4.0, num_channels=8, dtype="float32")
    >>> model.hyperparameters["num_product_channels"]
    8
    """

    __jit_unused_properties__ = ["dtype", "species", "r_max", "hyperparameters"]
    __jit_ignored_attributes__ = ["config"]

    def __init__(
        self,
        species: Optional[Sequence[Union[str, int]]] = None,
        *,
        config: Optional[ModelConfig] = None,
        avg_num_neighbors: float = 1.0,
        atomic_energies=None,
        scale: float = 1.0,
        shift=None,
        **hyperparameters,
    ):
        super().__init__()
        if config is None:
            config = ModelConfig(**hyperparameters)
        elif hyperparameters:
            raise TypeError(f"give the hyperparameters in config or as keywords, not both; got {sorted(hyperparameters)}")
        self.config = config.resolve(species)  # the hyperparameters the model was built with
        self._register_statistics(avg_num_neighbors, atomic_energies, scale, shift)
        self._build_layers()
        # Everything is initialised in float64, so one seed gives the same model in either precision.
        self.to(DTYPES[self.config.dtype])

    def _register_statistics(self, avg_num_neighbors: float, atomic_energies, scale: float, shift):
        """Statistics of the training data, as buffers so that they are saved and exported with the weights."""
        numbers = [atomic_number(s) for s in self.config.species]
        self.register_buffer("atomic_numbers", torch.tensor(numbers, dtype=torch.long))
        self.register_buffer("atomic_energies", _per_species(atomic_energies, numbers, "atomic_energies"))
        self.register_buffer("shift", _per_species(shift, numbers, "shift"))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float64))
        self.register_buffer("avg_num_neighbors", torch.tensor(float(avg_num_neighbors), dtype=torch.float64))

    def _build_layers(self):
        """Edge harmonics, embeddings and per layer an interaction, a product basis and a readout, from ``config.seed``."""
        c = self.config
        rep = get_representation(c.representation)
        s = len(c.species)
        irreps_edge = irreps_up_to(c.l_max_edge)
        irreps_a = irreps_up_to(c.l_max_edge, both_parities=c.odd_products)
        irreps_hidden = irreps_up_to(c.l_max_node, both_parities=c.odd_products)
        scalar = irreps_up_to(0)
        self.l_max_edge = c.l_max_edge
        self.num_layers = c.num_layers
        # Block-diagonal: row block l reads vec(n̂^{⊗l}), column block l gives the rank-l coordinates.
        self.register_buffer(
            "harmonic_matrix", torch.block_diag(*[rep.harmonic_matrix(l) for l in range(c.l_max_edge + 1)])
        )

        generator_state = torch.random.get_rng_state()
        torch.manual_seed(c.seed)
        try:
            self.embedding = SpeciesEmbedding(s, c.num_channels)
            self.radial_embedding = RadialEmbedding(c.r_max, c.num_bessel, c.polynomial_p)
            interactions, products, readouts = [], [], []
            for t in range(c.num_layers):
                irreps_in = scalar if t == 0 else irreps_hidden
                last = t == c.num_layers - 1
                irreps_out = scalar if last else irreps_hidden
                interactions.append(
                    InteractionBlock(
                        irreps_in, irreps_edge, irreps_a, irreps_out, c.num_channels, c.num_product_channels, s,
                        [c.num_bessel, *c.radial_mlp], c.odd_products, rep, skip=t > 0,
                    )
                )  # fmt: skip
                products.append(
                    ProductBasisBlock(
                        irreps_a, irreps_out, c.correlation, c.num_product_channels, c.num_channels, s,
                        odd_products=c.odd_products, rep=rep, **PRODUCT_BASES[c.product_basis],
                    )
                )  # fmt: skip
                readouts.append(MLPReadout(c.num_channels, c.readout_mlp) if last else LinearReadout(c.num_channels))
        finally:
            torch.random.set_rng_state(generator_state)
        self.interactions = nn.ModuleList(interactions)
        self.products = nn.ModuleList(products)
        self.readouts = nn.ModuleList(readouts)

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
        return list(self.config.species)

    @property
    def r_max(self) -> float:
        """Cutoff radius (Å)."""
        return self.config.r_max

    @property
    def hyperparameters(self):
        """The hyperparameters as model files store them, with the dtype the model has now."""
        return {**self.config.to_dict(), "dtype": dtype_name(self.dtype)}

    def edge_harmonics(self, unit_vectors: torch.Tensor) -> torch.Tensor:
        """Cartesian harmonics of rank 0..l_max_edge in the model's coordinates: ``[E, 3]`` → ``[E, dim_Y]``."""
        num_edges = unit_vectors.shape[0]
        power = torch.ones_like(unit_vectors[:, :1])
        powers = [power]
        for _ in range(self.l_max_edge):
            power = (power.unsqueeze(-1) * unit_vectors.unsqueeze(1)).reshape(num_edges, 3 * power.shape[1])
            powers.append(power)
        return torch.cat(powers, dim=1) @ self.harmonic_matrix

    def edge_features(self, edge_vectors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Harmonics ``[E, dim_Y]`` and enveloped radial basis ``[E, num_bessel]`` of edge vectors ``[E, 3]`` (Å)."""
        lengths = torch.linalg.vector_norm(edge_vectors, dim=1)
        harmonics = self.edge_harmonics(edge_vectors / lengths.clamp_min(1e-12).unsqueeze(-1))
        return harmonics, self.radial_embedding(lengths)

    def reference_energies(self, species: torch.Tensor) -> torch.Tensor:
        """Per-atom energy without any neighbour, shift + E0 (eV): ``species [N]`` → ``[N]``."""
        return (self.shift + self.atomic_energies).index_select(0, species)

    def layer(
        self,
        t: int,
        h: torch.Tensor,
        species: torch.Tensor,
        harmonics: torch.Tensor,
        radial: torch.Tensor,
        edge_index: torch.Tensor,
        num_receivers: int,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Message-passing layer ``t`` (interaction, product basis, readout) for the first ``num_receivers`` nodes.

        ``h [N, C, dim_t]`` are the features of every node (``embedding(species)`` for t = 0);
        every edge's receiver is one of the first ``num_receivers`` nodes (all N, or a LAMMPS
        rank's local atoms, whose ghosts only send). Returns their new features
        ``[num_receivers, C, dim_{t+1}]`` and energy contributions ``[num_receivers]`` (eV).
        """
        for k, (interaction, product, readout) in enumerate(zip(self.interactions, self.products, self.readouts)):
            if k == t:
                a, sc = interaction(h, species, harmonics, radial, edge_index, self.avg_num_neighbors, num_receivers)
                h = product(a, species.narrow(0, 0, num_receivers), sc)
                return h, self.scale * readout(h)
        raise ValueError(f"layer {t} does not exist; the model has {self.num_layers} layers")

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
        harmonics, radial = self.edge_features(edge_vectors)
        h = self.embedding(species)
        energy = self.reference_energies(species)
        for t in range(self.num_layers):
            h, contribution = self.layer(t, h, species, harmonics, radial, edge_index, species.shape[0])
            energy = energy + contribution
        return energy
