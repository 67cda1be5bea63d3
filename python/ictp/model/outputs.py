"""Forces, virials and stress as derivatives of the energy with respect to edge vectors.

With ``g_ij = ∂E/∂r_ij`` for every directed edge ``r_ij = r_i - r_j - shift``:

* ``F_k = -∂E/∂r_k = -Σ_{edges into k} g + Σ_{edges out of k} g``;
* ``W = -Σ_edges r_ij ⊗ g_ij`` (the virial), exact for periodic cells of any
  shape and size, since a homogeneous strain ε maps every edge to ``r (1 + ε)``;
* ``σ = -W / V`` (ASE sign convention: ``σ = (1/V) ∂E/∂ε``), :func:`stress_from_virial`.

The same edge-based formulas serve training, ASE and LAMMPS. Per-atom
virials split each edge's term ``-r_ij ⊗ g_ij`` equally between i and j, so
they sum to W. With ghost atoms (LAMMPS), only the first ``num_local`` atoms'
energies count; forces and per-atom virials on ghosts are what LAMMPS sends
back to their owners.
"""

from typing import Dict, List, Optional, Union

import torch

from .. import keys

__all__ = ["cell_volume", "edge_gradient_derivatives", "energy_derivatives", "stress_from_virial", "virial_from_stress"]


def energy_derivatives(
    node_energies: torch.Tensor,
    edge_vectors: torch.Tensor,
    edge_index: torch.Tensor,
    batch: torch.Tensor,
    num_graphs: int,
    num_local: Optional[int] = None,
    compute_virial: bool = False,
    compute_atom_virial: bool = False,
    create_graph: bool = False,
    edge_gradient: Optional[torch.Tensor] = None,
) -> Dict[str, torch.Tensor]:
    """Energies per structure, forces and, on request, virials.

    ``node_energies [N]`` must be computed from ``edge_vectors [E, 3]``, a tensor
    that requires grad, unless ``edge_gradient [E, 3] = ∂E/∂r`` is given (computed
    already, as compiled training does). Only the first ``num_local`` atoms' energies count
    (default: all N). Returns ``energy [B]``, ``energies [num_local]``,
    ``forces [N, 3]`` and, as asked, ``virial [B, 3, 3]`` and ``atom_virial [N, 3, 3]``.
    ``create_graph=True`` keeps the graph for losses on forces (training).
    Structures without edges get zero forces and virial.
    """
    num_nodes = node_energies.shape[0]
    if num_local is not None and num_local != num_nodes:
        node_energies = node_energies.narrow(0, 0, num_local)
    # one structure: plain sums (a scatter into one row also trips Inductor's vectorised code generation)
    if num_graphs == 1:
        energy = node_energies.sum().unsqueeze(0)
    else:
        energy = torch.zeros(num_graphs, dtype=node_energies.dtype, device=node_energies.device)
        energy = energy.index_add(0, batch.narrow(0, 0, node_energies.shape[0]), node_energies)
    out: Dict[str, torch.Tensor] = {keys.ENERGY: energy, keys.ENERGIES: node_energies}
    grad = edge_gradient
    if grad is None and node_energies.requires_grad:
        grads: List[Optional[torch.Tensor]] = torch.autograd.grad(
            [node_energies.sum()], [edge_vectors], create_graph=create_graph, allow_unused=True
        )
        grad = grads[0]
    if grad is None:
        grad = torch.zeros_like(edge_vectors)
    out.update(edge_gradient_derivatives(grad, edge_vectors, edge_index, batch, num_graphs, num_nodes,
                                         compute_virial, compute_atom_virial))  # fmt: skip
    return out


def edge_gradient_derivatives(
    grad: torch.Tensor,
    edge_vectors: torch.Tensor,
    edge_index: torch.Tensor,
    batch: torch.Tensor,
    num_graphs: int,
    num_nodes: int,
    compute_virial: bool,
    compute_atom_virial: bool,
) -> Dict[str, torch.Tensor]:
    """Forces ``[N, 3]`` and, as asked, virials ``[B, 3, 3]`` and per-atom virials ``[N, 3, 3]`` from
    ``grad [E, 3] = ∂E/∂r`` of every edge (the formulas of this module's docstring)."""
    receiver, sender = edge_index[0], edge_index[1]
    forces = torch.zeros(num_nodes, 3, dtype=grad.dtype, device=grad.device)
    out: Dict[str, torch.Tensor] = {keys.FORCES: forces.index_add(0, sender, grad).index_add(0, receiver, -grad)}
    if compute_virial or compute_atom_virial:
        per_edge = -edge_vectors.unsqueeze(2) * grad.unsqueeze(1)  # [E, 3, 3]
        if compute_virial:
            # one structure: a plain sum (a scatter into one row trips Inductor's vectorised code generation)
            if num_graphs == 1:
                out[keys.VIRIAL] = per_edge.sum(0).unsqueeze(0)
            else:
                virial = torch.zeros(num_graphs, 3, 3, dtype=grad.dtype, device=grad.device)
                out[keys.VIRIAL] = virial.index_add(0, batch.index_select(0, receiver), per_edge)
        if compute_atom_virial:
            half = 0.5 * per_edge
            atom_virial = torch.zeros(num_nodes, 3, 3, dtype=grad.dtype, device=grad.device)
            out[keys.ATOM_VIRIAL] = atom_virial.index_add(0, receiver, half).index_add(0, sender, half)
    return out


def cell_volume(cell: torch.Tensor) -> torch.Tensor:
    """``V = |det(cell)|``: ``[B, 3, 3]`` lattice vectors as rows (Å) → ``[B]`` (Å³)."""
    return torch.linalg.det(cell).abs()


def stress_from_virial(virial: torch.Tensor, volume: Union[float, torch.Tensor]) -> torch.Tensor:
    """``σ = -W / V`` (eV/Å³, ASE sign), in the virial's dtype.

    ``virial [..., 3, 3]`` (eV); ``volume`` (Å³) a number or one per leading index, ``[...]``.
    """
    volume = torch.as_tensor(volume, dtype=virial.dtype, device=virial.device)
    return -virial / volume[..., None, None]


def virial_from_stress(stress: torch.Tensor, volume: Union[float, torch.Tensor]) -> torch.Tensor:
    """``W = -σ V`` (eV), the inverse of :func:`stress_from_virial`."""
    volume = torch.as_tensor(volume, dtype=stress.dtype, device=stress.device)
    return -stress * volume[..., None, None]
