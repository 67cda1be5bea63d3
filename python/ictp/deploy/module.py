"""The deployed model's forward: the one call that LAMMPS (C++) and ASE make.

Contract (``docs/deployed_model.md`` states it for the C++ side)::

    forward(species [N] int64, edge_index [2, E] int64, edge_vectors [E, 3] float64,
            num_local: int, compute_virial: bool, compute_atom_virial: bool) -> Dict[str, Tensor]

* Nodes ``0 .. num_local-1`` are local atoms, the rest ghosts (LAMMPS) or
  nothing (ASE: ``num_local = N``). Only local atoms' energies are summed.
* ``edge_index[0]`` receives, ``edge_index[1]`` sends; ``edge_vectors[e] =
  x[receiver] - x[sender]`` (Å), periodic image shift included. Both directions of
  every pair must be present; edges at or beyond the cutoff contribute zero.
* Returns float64 tensors: ``energy`` (0-d, eV), ``energies [num_local]`` (eV),
  ``forces [N, 3]`` (eV/Å, on ghosts too: the caller adds them to their owners),
  and on request ``virial [3, 3]`` and ``atom_virial [N, 3, 3]`` (eV,
  ``W = -Σ_edges r ⊗ ∂E/∂r``; the stress is ``-W / V``).

``forward_layer`` and ``vjp_layer`` are the same model layer by layer, for ranks
that exchange node features between layers (:mod:`ictp.deploy.layers`).

:meth:`DeployedModel.evaluate` is the same computation without input checks or
host synchronisation, with ``num_local`` a 0-d tensor: what the compiled format
traces (all outputs, ``energies`` for every node, zero on ghosts).

Run scripted copies with the graph executor's optimisation off (see docs/conventions.md).
"""

from typing import Dict

import torch

from .. import keys
from ..model import ICTP, energy_derivatives
from .layers import LayerFunctions

__all__ = ["DeployedModel"]


class DeployedModel(LayerFunctions):
    """Wraps an :class:`ictp.ICTP` with the deployment contract; scriptable and traceable.

    The layer functions (``forward_layer``, ``vjp_layer``) come from :class:`LayerFunctions`.
    """

    def __init__(self, model: ICTP):
        super().__init__(model)
        self.num_species = int(model.atomic_numbers.numel())

    def forward(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
        num_local: int,
        compute_virial: bool = False,
        compute_atom_virial: bool = False,
    ) -> Dict[str, torch.Tensor]:
        num_nodes = species.shape[0]
        if num_local < 0 or num_local > num_nodes:
            raise ValueError(f"num_local = {num_local} must lie between 0 and the number of atoms, {num_nodes}")
        if edge_index.dim() != 2 or edge_index.shape[0] != 2 or edge_vectors.shape != (edge_index.shape[1], 3):
            raise ValueError("edge_index must be [2, E] and edge_vectors [E, 3]")
        if bool(((species < 0) | (species >= self.num_species)).any()):  # one host sync on a GPU
            raise ValueError(f"species indices must lie in [0, {self.num_species})")
        local = torch.tensor(num_local, dtype=torch.long, device=species.device)
        out = self.evaluate(species, edge_index, edge_vectors, local, compute_virial, compute_atom_virial)
        out[keys.ENERGIES] = out[keys.ENERGIES].narrow(0, 0, num_local)
        return out

    def evaluate(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
        num_local: torch.Tensor,
        compute_virial: bool,
        compute_atom_virial: bool,
    ) -> Dict[str, torch.Tensor]:
        """:meth:`forward` for a 0-d ``num_local`` tensor, unchecked; ``energies [N]`` is zero on ghosts."""
        vectors = edge_vectors.detach().to(self.model.scale.dtype).requires_grad_(True)
        node_energies = self.model(species, edge_index, vectors)
        is_local = torch.arange(species.shape[0], device=species.device) < num_local
        node_energies = torch.where(is_local, node_energies, torch.zeros_like(node_energies))
        batch = torch.zeros_like(species)
        out = energy_derivatives(
            node_energies, vectors, edge_index, batch, 1, compute_virial=compute_virial,
            compute_atom_virial=compute_atom_virial,
        )  # fmt: skip
        out[keys.ENERGY] = out[keys.ENERGY][0]
        if compute_virial:
            out[keys.VIRIAL] = out[keys.VIRIAL][0]
        return {k: v.detach().double() for k, v in out.items()}
