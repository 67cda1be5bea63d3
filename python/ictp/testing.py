"""Shared checks for tests: equivariance under O(3), finite-difference forces and stress.

:func:`assert_equivariant` checks ``f(g·x) = g·f(x)`` for one orthogonal matrix
``g`` (a rotation or a rotoreflection); how ``g`` acts on each input and
output is an *action* ``(x, g) -> g·x``: :func:`layout_action` for model
features, :func:`cartesian_action` for dense Cartesian tensors (positions,
forces, stress), ``None`` for what does not change. Tolerances depend on the
dtype (:data:`TOLERANCE`); tests run in both precisions (the ``dtype`` fixture).
"""

from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from .tensors.irreps import Irrep, Layout
from .tensors.representation import Representation, get_representation, stf_projector

__all__ = [
    "TOLERANCE", "assert_equivariant", "assert_results_close", "cartesian_action", "finite_difference_forces",
    "finite_difference_stress",
    "layout_action", "random_features", "random_orthogonal", "rotate_layout", "rotation_matrix_of", "with_changed_metadata",
]  # fmt: skip

Action = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

TOLERANCE = {torch.float64: dict(atol=1e-12, rtol=1e-13), torch.float32: dict(atol=1e-5, rtol=1e-5)}
"""``torch.testing.assert_close`` tolerances of :func:`assert_equivariant` per dtype."""


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


def layout_action(layout: Layout, rep: Representation) -> Action:
    """How O(3) acts on features ``[..., layout.dim]`` stored in the coordinates of ``rep``."""
    return lambda x, rotation: rotate_layout(x, layout.irreps, layout.mults, rep, rotation)


def cartesian_action(l: int, pseudo: bool = False) -> Action:
    """How O(3) acts on dense rank-l tensors ``[..., 3, ..., 3]``: ``R`` on each of the last ``l`` axes.

    ``l = 1`` for positions, forces and lattice vectors (rows of the cell), ``l = 2`` for
    stress and virial (``R σ Rᵀ``); a pseudo-tensor also gets a factor ``det R``.
    """
    irrep = Irrep(l, -((-1) ** l) if pseudo else (-1) ** l)
    dense = get_representation("dense")

    def act(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(*x.shape[: x.dim() - l], 3**l)
        return (flat @ rotation_matrix_of(dense, irrep, rotation).to(x.dtype)).reshape(x.shape)

    return act


def assert_equivariant(
    fn: Callable,
    args: Sequence[torch.Tensor],
    actions_in: Sequence[Optional[Action]],
    actions_out: Sequence[Optional[Action]],
    rotation: torch.Tensor,
    tolerance: Optional[dict] = None,
):
    """Assert ``fn(g·args) == g·fn(args)`` for the orthogonal matrix ``g = rotation``.

    Parameters
    ----------
    fn : returns a tensor or a tuple of tensors.
    args : the inputs of ``fn``.
    actions_in : for each input, how ``g`` acts on it, or ``None`` for inputs that
        do not change (species, indices, radial weights).
    actions_out : the same for each output; ``None`` for invariant outputs.
    rotation : ``[3, 3]`` float64, e.g. :func:`random_orthogonal`.
    tolerance : ``atol`` and ``rtol`` of ``torch.testing.assert_close``; default
        :data:`TOLERANCE` of the outputs' dtype.
    """
    moved = [x if act is None else act(x, rotation) for x, act in zip(args, actions_in)]
    outputs, outputs_of_moved = _as_tuple(fn(*args)), _as_tuple(fn(*moved))
    if len(outputs) != len(actions_out):
        raise ValueError(f"fn returns {len(outputs)} outputs but {len(actions_out)} actions were given")
    for k, (out, got, act) in enumerate(zip(outputs, outputs_of_moved, actions_out)):
        expected = out if act is None else act(out, rotation)
        torch.testing.assert_close(got, expected, **(tolerance or TOLERANCE[out.dtype]), msg=lambda m: f"output {k}: {m}")


def _as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def assert_results_close(got: Mapping[str, Any], expected: Mapping[str, Any], rtol: float):
    """Every quantity of ``expected`` (energy, forces, ...; arrays or tensors) is in ``got`` with its shape and
    differs by at most ``rtol`` times its largest magnitude, or ``rtol`` where that magnitude is below 1."""
    for key, ref in expected.items():
        ref, value = np.asarray(ref, dtype=np.float64), np.asarray(got[key], dtype=np.float64)
        assert value.shape == ref.shape, f"{key}: shape {value.shape}, expected {ref.shape}"
        error, scale = np.abs(value - ref).max(initial=0.0), max(np.abs(ref).max(initial=0.0), 1.0)
        assert error <= rtol * scale, f"{key}: largest difference {error:.3g} > {rtol:g} x {scale:.3g}"


def random_features(
    layout: Layout, rep: Representation, shape: Sequence[int], seed: int = 0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Random valid coordinates ``[*shape, layout.dim]`` (symmetric traceless also in the dense representation)."""
    g = torch.Generator().manual_seed(seed)
    blocks = []
    for irrep, mult, d in zip(layout.irreps, layout.mults, layout.dims):
        coords = torch.randn(*shape, mult, d, generator=g, dtype=torch.float64)
        project = rep.decoder(irrep.l) @ stf_projector(irrep.l) @ rep.encoder(irrep.l)
        blocks.append((coords @ project).reshape(*shape, mult * d))
    return torch.cat(blocks, -1).to(dtype)


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


def with_changed_metadata(deployed, target, change):
    """A copy of a deployed file (either format) whose ``metadata.json`` went through ``change(metadata)``.

    For tests of what a file from elsewhere, or a corrupted one, does. Returns ``target``.
    """
    import json
    import zipfile

    with zipfile.ZipFile(deployed) as source, zipfile.ZipFile(target, "w") as copy:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("extra/metadata.json"):
                metadata = json.loads(data)
                change(metadata)
                data = json.dumps(metadata).encode()
            copy.writestr(item, data)
    return target
