"""Shared checks for tests: random O(3) elements and how they act on model coordinates."""

from typing import Sequence

import numpy as np
import torch

from .tensors.irreps import Irrep
from .tensors.representation import Representation

__all__ = ["random_orthogonal", "rotation_matrix_of", "rotate_layout", "finite_difference_forces", "finite_difference_stress"]


def random_orthogonal(seed: int, improper: bool = False) -> torch.Tensor:
    """A random 3x3 orthogonal matrix, float64; ``improper=True`` gives det = -1 (a rotoreflection)."""
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if (torch.linalg.det(q) < 0) != improper:
        q = -q
    return q


def rotation_matrix_of(rep: Representation, irrep: Irrep, rotation: torch.Tensor) -> torch.Tensor:
    """How ``rotation`` acts on the coordinates of ``irrep``: ``coords' = coords @ M``, ``[d, d]``.

    On the dense tensor it is ``R^{⊗l}``, times ``det R`` for a pseudo-tensor.
    """
    l = irrep.l
    power = torch.ones(1, 1, dtype=torch.float64)
    for _ in range(l):
        power = torch.kron(power, rotation)
    sign = 1.0 if irrep.is_natural else float(torch.linalg.det(rotation))
    # vec(T') = R^{⊗l} vec(T), so coords' = coords @ decoder @ (R^{⊗l})ᵀ @ encoder.
    return sign * rep.decoder(l) @ power.T @ rep.encoder(l)


def rotate_layout(x: torch.Tensor, irreps: Sequence[Irrep], mults: Sequence[int], rep: Representation, rotation: torch.Tensor) -> torch.Tensor:
    """Apply ``rotation`` to a feature tensor ``[..., dim]`` laid out as blocks ``[mult, d]``."""
    out, offset = [], 0
    for irrep, mult in zip(irreps, mults):
        d = rep.dim(irrep.l)
        block = x[..., offset : offset + mult * d].reshape(*x.shape[:-1], mult, d)
        out.append((block @ rotation_matrix_of(rep, irrep, rotation).to(x.dtype)).reshape(*x.shape[:-1], mult * d))
        offset += mult * d
    return torch.cat(out, dim=-1)


def finite_difference_forces(energy_fn, atoms, indices, delta: float = 1e-4) -> np.ndarray:
    """Central differences ``-dE/dr`` for the given atoms, ``[len(indices), 3]`` (eV/Å)."""
    out = np.zeros((len(indices), 3))
    for row, i in enumerate(indices):
        for axis in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[i, axis] += delta
            minus.positions[i, axis] -= delta
            out[row, axis] = -(energy_fn(plus) - energy_fn(minus)) / (2 * delta)
    return out


def finite_difference_stress(energy_fn, atoms, delta: float = 1e-5) -> np.ndarray:
    """Central differences ``(1/V) dE/dε`` under symmetric strain, ``[3, 3]`` (eV/Å³, ASE sign)."""
    volume = atoms.get_volume()
    out = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[a, b] += sign * delta / 2
                strain[b, a] += sign * delta / 2
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
                energies.append(energy_fn(strained))
            out[a, b] = (energies[0] - energies[1]) / (2 * delta) / volume
    return out
