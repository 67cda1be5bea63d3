"""The training loss: weighted energy, force and virial errors, summed (the paper) or averaged (MACE).

``reduction="sum"`` (arXiv:2405.14253, spec §4.2) sums over the batch:

``L = w_E Σ_b (ΔE_b)²/N_b + w_F Σ_i |ΔF_i|² + w_W Σ_b Σ_voigt (ΔW_b)²/N_b``

``reduction="mean"`` (MACE's ``weighted`` and ``virials`` losses) averages
per-atom energy errors over structures and force and virial components over
their number:

``L = w_E ⟨(ΔE_b/N_b)²⟩_b + w_F ⟨ΔF_iα²⟩_iα + w_W ⟨(ΔW_b/N_b)²⟩_b,voigt``

At equal weights the mean weighs energies 3x more against forces than the sum
(a structure has N_b·3 force components but one energy), and its size does not
grow with the batch. ``W = -σ V`` is the virial (eV), with the six Voigt
components of its symmetric part. Structures without a label contribute
nothing to that term, and a mean runs over labelled values only. A batch's
``keys.WEIGHT`` (its structures' config_type weights, MACE's
``config_type_weights``) multiplies each structure's energy, force and virial
errors; a mean still divides by the number of values, as MACE's does.
"""

from typing import Dict, Optional, Sequence, Tuple

import torch

from .. import keys
from ..model.outputs import cell_volume, virial_from_stress

__all__ = [
    "REDUCTIONS", "TERMS", "VOIGT", "label_counts", "reduce_terms", "squared_errors", "structure_sizes", "weighted_loss",
]  # fmt: skip

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
REDUCTIONS = ("mean", "sum")
TERMS = ("energy", "forces", "virials")


def _voigt(matrix: torch.Tensor) -> torch.Tensor:
    """``[B, 3, 3]`` → ``[B, 6]`` of the symmetric part (xx, yy, zz, yz, xz, xy)."""
    sym = 0.5 * (matrix + matrix.transpose(1, 2))
    return torch.stack([sym[:, a, b] for a, b in VOIGT], dim=1)


def label_counts(batch: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """How many labelled values each term of a ``mean`` loss averages: energies, force and virial components."""
    atoms_with_forces = batch[keys.NUM_ATOMS][batch[keys.HAS_FORCES]].sum()
    return {
        "energy": float(batch[keys.HAS_ENERGY].sum()),
        "forces": 3.0 * float(atoms_with_forces),
        "virials": 6.0 * float(batch[keys.HAS_STRESS].sum()),
    }


def structure_sizes(batch: Dict[str, torch.Tensor], reduction: str, dtype: torch.dtype) -> torch.Tensor:
    """``[B]``: what each structure's ΔE² and ΔW² are divided by, ``N_b`` (sum) or ``N_b²`` (mean)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"the loss reduction must be one of {REDUCTIONS}, got {reduction!r}")
    num_atoms = batch[keys.NUM_ATOMS].to(dtype)
    return num_atoms if reduction == "sum" else num_atoms**2


def squared_errors(
    prediction: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor], reduction: str, weighted: bool = True
) -> Dict[str, torch.Tensor]:
    """Per term, the sum over labelled values of ``ΔE²/N`` (sum) or ``(ΔE/N)²`` (mean), ``ΔF_iα²``, and ``ΔW²/N`` or
    ``(ΔW/N)²``, each times its structure's ``keys.WEIGHT`` if ``weighted`` (and the batch has weights)."""
    dtype = prediction[keys.ENERGY].dtype
    per_atom = structure_sizes(batch, reduction, dtype)
    weight = torch.ones_like(prediction[keys.ENERGY])
    if weighted and keys.WEIGHT in batch:
        weight = batch[keys.WEIGHT].to(dtype)
    has_energy = weight * batch[keys.HAS_ENERGY].to(dtype)
    d_energy = prediction[keys.ENERGY] - batch[keys.REF_ENERGY].to(dtype)
    sums = {"energy": torch.sum(has_energy * d_energy**2 / per_atom)}
    per_atom_mask = (weight * batch[keys.HAS_FORCES].to(dtype)).index_select(0, batch[keys.BATCH])
    d_forces = prediction[keys.FORCES] - batch[keys.REF_FORCES].to(dtype)
    sums["forces"] = torch.sum(per_atom_mask.unsqueeze(-1) * d_forces**2)
    if keys.VIRIAL in prediction:
        ref_virial = virial_from_stress(batch[keys.REF_STRESS].to(dtype), cell_volume(batch[keys.CELL]))
        d_virial = _voigt(prediction[keys.VIRIAL] - ref_virial)
        has_stress = weight * batch[keys.HAS_STRESS].to(dtype)
        sums["virials"] = torch.sum(has_stress.unsqueeze(-1) * d_virial**2 / per_atom.unsqueeze(-1))
    else:
        sums["virials"] = torch.zeros_like(sums["energy"])
    return sums


def reduce_terms(sums: Dict, weights: Sequence[float], reduction: str, counts: Dict[str, float]):
    """``(total, terms)`` from :func:`squared_errors` (summed over any number of batches) and their :func:`label_counts`.

    ``weights`` are those of the energy, force and virial terms.
    """
    terms = sums if reduction == "sum" else {name: sums[name] / max(counts[name], 1.0) for name in TERMS}
    total = sum(weight * terms[name] for name, weight in zip(TERMS, weights))
    return total, terms


def weighted_loss(
    prediction: Dict[str, torch.Tensor],
    batch: Dict[str, torch.Tensor],
    energy_weight: float,
    forces_weight: float,
    virials_weight: float,
    reduction: str = "sum",
    counts: Optional[Dict[str, float]] = None,
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Total loss of a batch and its three unweighted terms (``energy``, ``forces``, ``virials``).

    ``reduction`` is ``"sum"`` or ``"mean"`` (module docstring). ``counts``
    (used by ``"mean"``) are the numbers to divide by, :func:`label_counts` of
    this batch by default; data-parallel training passes those of the whole
    global batch, so that the processes' gradients add up to the one-process gradient.
    """
    sums = squared_errors(prediction, batch, reduction)
    return reduce_terms(sums, (energy_weight, forces_weight, virials_weight), reduction, counts or label_counts(batch))
