"""The training loss: weighted sums over the batch (the paper's recipe, not means).

``L = w_E Σ_b (ΔE_b)²/N_b + w_F Σ_i |ΔF_i|² + w_W Σ_b Σ_voigt (ΔW_b)²/N_b``

with ``W = -σ V`` the virial (eV) and the six Voigt components of its symmetric
part. Structures without a label contribute nothing to that term. Summing
(rather than averaging) sets the effective learning rate and the E:F balance of
arXiv:2405.14253; MACE averages instead.
"""

from typing import Dict, Tuple

import torch

from .. import keys
from ..model.outputs import cell_volume, virial_from_stress

__all__ = ["weighted_loss", "VOIGT"]

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def _voigt(matrix: torch.Tensor) -> torch.Tensor:
    """``[B, 3, 3]`` → ``[B, 6]`` of the symmetric part (xx, yy, zz, yz, xz, xy)."""
    sym = 0.5 * (matrix + matrix.transpose(1, 2))
    return torch.stack([sym[:, a, b] for a, b in VOIGT], dim=1)


def weighted_loss(
    prediction: Dict[str, torch.Tensor],
    batch: Dict[str, torch.Tensor],
    energy_weight: float,
    forces_weight: float,
    virials_weight: float,
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Total loss and its three unweighted terms (``energy``, ``forces``, ``virials``)."""
    num_atoms = batch[keys.NUM_ATOMS].to(prediction[keys.ENERGY].dtype)
    has_energy = batch[keys.HAS_ENERGY].to(num_atoms.dtype)
    d_energy = prediction[keys.ENERGY] - batch[keys.REF_ENERGY].to(num_atoms.dtype)
    terms = {"energy": torch.sum(has_energy * d_energy**2 / num_atoms)}
    per_atom_mask = batch[keys.HAS_FORCES].index_select(0, batch[keys.BATCH]).to(num_atoms.dtype)
    d_forces = prediction[keys.FORCES] - batch[keys.REF_FORCES].to(num_atoms.dtype)
    terms["forces"] = torch.sum(per_atom_mask.unsqueeze(-1) * d_forces**2)
    if keys.VIRIAL in prediction:
        ref_virial = virial_from_stress(batch[keys.REF_STRESS].to(num_atoms.dtype), cell_volume(batch[keys.CELL]))
        d_virial = _voigt(prediction[keys.VIRIAL] - ref_virial)
        has_stress = batch[keys.HAS_STRESS].to(num_atoms.dtype)
        terms["virials"] = torch.sum(has_stress.unsqueeze(-1) * d_virial**2 / num_atoms.unsqueeze(-1))
    else:
        terms["virials"] = torch.zeros_like(terms["energy"])
    total = energy_weight * terms["energy"] + forces_weight * terms["forces"] + virials_weight * terms["virials"]
    return total, terms
