"""The deployed model layer by layer: what LAMMPS ranks call when they exchange node features between layers.

With several MPI ranks (``pair_style ictp comm layer``), each rank holds its local
atoms and ghost atoms within one cutoff (r_max + skin) of its domain, and edges
only *into* local atoms. Layer t then needs the features ``h_t`` of every node:
the rank computes its local atoms' features, and the ghosts' come from their owners
(LAMMPS forward communication). Backwards, the gradients with respect to ghost
features go back to their owners (reverse communication) and are added to theirs
before the previous layer's vector-Jacobian product. Every edge sits on the rank
that owns its receiver, so the forces and virials of all layers' VJPs, summed,
are those of the whole model. The protocol (docs/deployed_model.md)::

    h, energies = forward(t, ...)          t = 0 .. T-2, then exchange h
    energies, grads..., forces, virials = vjp(T-1, ...)
    for t = T-2 .. 0: reverse-exchange the ghosts' gradient, then vjp(t, ..., gradient)

Both functions take the nodes split into local atoms and ghosts (every size is a
plain dimension, so the compiled format keeps them dynamic):

    h_local [nl, C, D_t], h_ghost [ng, C, D_t]    features of layer t (model dtype; ignored for t = 0)
    species_local [nl], species_ghost [ng]        int64
    edge_index [2, E]                            (receiver < nl, sender < nl + ng)
    edge_vectors [E, 3]                          float64, Å

``forward`` returns the local atoms' new features ``[nl, C, D_{t+1}]`` and their
energy contributions ``[nl]`` (eV, float64; layer 0 includes shift and E0).
``vjp`` recomputes layer t and returns, for the objective
``Σ energies_t + <grad, features_{t+1}>`` (``grad [nl, C, D_{t+1}]``, ignored for the
last layer): the energies ``[nl]``, the gradients with respect to ``h_local`` and
``h_ghost`` (zero-sized for t = 0), and float64 forces ``[nl + ng, 3]``, virial ``[3, 3]``
and per-atom virials ``[nl + ng, 3, 3]`` of this layer's edges.
"""

from typing import List, Optional, Tuple

import torch
from torch import nn

from .. import keys
from ..model import ICTP
from ..model.outputs import edge_gradient_derivatives

__all__ = ["LayerFunctions", "feature_shapes"]


def feature_shapes(model: ICTP) -> List[List[int]]:
    """``[C, D_t]`` of the features every layer t = 0 .. T-1 takes (layer 0: scalars, ``[C, 1]``)."""
    return [[model.config.num_channels, sum(interaction.linear_up.out_dims)] for interaction in model.interactions]


class LayerFunctions(nn.Module):
    """Layer-by-layer functions of an :class:`ictp.ICTP`; scriptable (both are exported methods).

    :class:`ictp.deploy.DeployedModel` derives from it and adds the whole-model contract.
    """

    def __init__(self, model: ICTP):
        super().__init__()
        self.model = model
        self.num_layers = model.num_layers

    def _layer(
        self, t: int, h_local, h_ghost, species_local, species_ghost, edge_index, vectors
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        species = torch.cat([species_local, species_ghost])
        harmonics, radial = self.model.edge_features(vectors)
        num_local = species_local.shape[0]
        h = self.model.embedding(species) if t == 0 else torch.cat([h_local, h_ghost])
        features, energies = self.model.layer(t, h, species, harmonics, radial, edge_index, num_local)
        if t == 0:
            energies = energies + self.model.reference_energies(species_local)
        return features, energies

    @torch.jit.export
    def forward_layer(
        self,
        t: int,
        h_local: torch.Tensor,
        h_ghost: torch.Tensor,
        species_local: torch.Tensor,
        species_ghost: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Layer ``t``'s new features of the local atoms and their energies (see the module's docstring)."""
        vectors = edge_vectors.to(self.model.scale.dtype)
        features, energies = self._layer(t, h_local, h_ghost, species_local, species_ghost, edge_index, vectors)
        return features.detach(), energies.detach().double()

    @torch.jit.export
    def vjp_layer(
        self,
        t: int,
        h_local: torch.Tensor,
        h_ghost: torch.Tensor,
        species_local: torch.Tensor,
        species_ghost: torch.Tensor,
        edge_index: torch.Tensor,
        edge_vectors: torch.Tensor,
        grad: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Layer ``t`` recomputed and its vector-Jacobian product (see the module's docstring)."""
        vectors = edge_vectors.detach().to(self.model.scale.dtype).requires_grad_(True)
        h_local = h_local.detach().requires_grad_(t > 0)
        h_ghost = h_ghost.detach().requires_grad_(t > 0)
        features, energies = self._layer(t, h_local, h_ghost, species_local, species_ghost, edge_index, vectors)
        objective = energies.sum()
        if t < self.num_layers - 1:
            objective = objective + (features * grad).sum()
        leaves = [vectors, h_local, h_ghost] if t > 0 else [vectors]
        grads: List[Optional[torch.Tensor]] = torch.autograd.grad([objective], leaves, allow_unused=True)
        grad_vectors, grad_local, grad_ghost = torch.zeros_like(vectors), torch.zeros_like(h_local), torch.zeros_like(h_ghost)
        first = grads[0]
        if first is not None:
            grad_vectors = first
        if t > 0:
            local, ghost = grads[1], grads[2]
            if local is not None:
                grad_local = local
            if ghost is not None:
                grad_ghost = ghost
        num_nodes = species_local.shape[0] + species_ghost.shape[0]
        batch = torch.zeros(num_nodes, dtype=torch.long, device=vectors.device)
        out = edge_gradient_derivatives(grad_vectors, vectors, edge_index, batch, 1, num_nodes, True, True)
        return (
            energies.detach().double(), grad_local.detach(), grad_ghost.detach(), out[keys.FORCES].detach().double(),
            out[keys.VIRIAL][0].detach().double(), out[keys.ATOM_VIRIAL].detach().double(),
        )  # fmt: skip
