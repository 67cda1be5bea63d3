"""Statistics of a training set that the model stores: n̄, reference energies E0, scale and shift.

All of them are computed on the training split only (never on validation or
test data) and saved in the model's buffers, so ASE and LAMMPS see the same
numbers (arXiv:2405.14253 follows MACE here).
"""

from typing import Dict, Sequence

import numpy as np

from .extxyz import Configuration, located
from .graph import species_indices
from .neighbors import neighbor_list

__all__ = [
    "average_num_neighbors", "is_isolated_atom", "isolated_atom_energies", "fit_atomic_energies", "scale_and_shift",
    "species_counts",
]  # fmt: skip


def species_counts(configurations: Sequence[Configuration], atomic_numbers: Sequence[int]) -> np.ndarray:
    """``[num_configs, num_species]``: how many atoms of each species every structure has."""
    return np.stack(
        [np.bincount(species_indices(c.atoms.numbers, atomic_numbers), minlength=len(atomic_numbers)) for c in configurations]
    ).astype(np.float64)


def average_num_neighbors(edge_counts: Sequence[np.ndarray]) -> float:
    """Mean number of neighbours per atom, over atoms that have any (n̄ divides the messages).

    ``edge_counts``: per structure, the number of edges into each atom ``[N]``.
    Returns 1 when no atom has a neighbour.
    """
    counts = np.concatenate([np.asarray(c) for c in edge_counts]) if len(edge_counts) else np.zeros(0)
    counts = counts[counts > 0]
    return float(counts.mean()) if counts.size else 1.0


def is_isolated_atom(config: Configuration, r_max: float) -> bool:
    """One atom without a neighbour within ``r_max`` (Å), whatever its box (a VASP atom in 20 Å of vacuum too):
    its energy is a reference energy E0, there is nothing to learn from it."""
    atoms = config.atoms
    if len(atoms) != 1:
        return False
    with located(config):
        return len(neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, r_max)[0]) == 0


def isolated_atom_energies(configurations: Sequence[Configuration], r_max: float) -> Dict[int, float]:
    """E0 from the isolated atoms (:func:`is_isolated_atom`) that have an energy: ``{atomic number: eV}``."""
    out = {}
    for config in configurations:
        if is_isolated_atom(config, r_max) and config.energy is not None:
            out[int(config.atoms.numbers[0])] = config.energy
    return out


def fit_atomic_energies(configurations: Sequence[Configuration], atomic_numbers: Sequence[int]) -> np.ndarray:
    """E0 per species by least squares of the energies on the species counts, ``[num_species]`` (eV).

    Species whose counts are linearly dependent (e.g. always in a fixed ratio)
    get the minimum-norm solution.
    """
    labelled = [c for c in configurations if c.energy is not None]
    if not labelled:
        raise ValueError("cannot fit reference energies E0: no structure has an energy label")
    counts = species_counts(labelled, atomic_numbers)
    energies = np.array([c.energy for c in labelled])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return solution


def scale_and_shift(
    configurations: Sequence[Configuration], atomic_numbers: Sequence[int], atomic_energies: np.ndarray, ridge: float = 1.0
):
    """Energy scale (RMS of the force components; 1 without forces) and per-species shift (eV).

    The shift is the mean per-atom residual energy after E0, plus a ridge
    regression (``λ = ridge``) of what remains on the species counts.
    Returns ``(scale, shift [num_species])``.
    """
    forces = [c.forces for c in configurations if c.forces is not None]
    scale = float(np.sqrt(np.mean(np.concatenate(forces) ** 2))) if forces else 1.0
    if scale == 0.0:
        scale = 1.0
    labelled = [c for c in configurations if c.energy is not None]
    shift = np.zeros(len(atomic_numbers))
    if labelled:
        counts = species_counts(labelled, atomic_numbers)
        residual = np.array([c.energy for c in labelled]) - counts @ np.asarray(atomic_energies)
        mean = float(np.sum(residual) / np.sum(counts))
        remaining = residual - mean * counts.sum(1)
        regression = np.linalg.solve(counts.T @ counts + ridge * np.eye(len(atomic_numbers)), counts.T @ remaining)
        shift = mean + regression
    return scale, shift
