"""Evaluate a model on ASE structures: energy, per-atom energies, forces, virial and stress."""

from typing import Dict, List, Union

import torch
from ase import Atoms

from .. import keys
from ..data.graph import edge_vectors, structures_to_batch
from .outputs import cell_volume, energy_derivatives, stress_from_virial

__all__ = ["evaluate_batch", "predict"]


def evaluate_batch(model, batch: Dict[str, torch.Tensor], virial: bool = False, create_graph: bool = False) -> Dict[str, torch.Tensor]:
    """Energy, per-atom energies, forces and optionally virial of a collated batch (:mod:`ictp.data.graph`).

    Edge vectors are formed in float64, cast to the model's dtype and made the
    differentiated leaf. ``create_graph=True`` keeps the graph (training).
    """
    vectors = edge_vectors(batch).to(model.dtype).requires_grad_(True)
    node_energies = model(batch[keys.SPECIES], batch[keys.EDGE_INDEX], vectors)
    return energy_derivatives(
        node_energies, vectors, batch[keys.EDGE_INDEX], batch[keys.BATCH], batch[keys.PTR].numel() - 1,
        compute_virial=virial, create_graph=create_graph,
    )  # fmt: skip


def predict(model, atoms: Union[Atoms, List[Atoms]], stress: bool = False) -> Dict[str, torch.Tensor]:
    """Evaluate ``model`` on one structure or a list of them, as one batch.

    Returns tensors in the model's dtype (see :mod:`ictp.keys`): ``energy [B]``,
    ``energies [N]``, ``forces [N, 3]``, ``ptr [B+1]`` and, with ``stress=True``,
    ``virial [B, 3, 3]`` and ``stress [B, 3, 3]``. Stress needs every structure
    to be periodic in all three directions (it is undefined otherwise).
    ValueError if the model returns a non-finite energy, force or stress (a
    diverged model or an unphysical structure), naming the structures.
    """
    structures = [atoms] if isinstance(atoms, Atoms) else list(atoms)
    if stress:
        bad = [k for k, a in enumerate(structures) if not a.pbc.all()]
        if bad:
            raise ValueError(
                f"stress is only defined for structures periodic in all three directions; "
                f"structure(s) {bad} have pbc={structures[bad[0]].pbc.tolist()}"
            )
    device = model.scale.device
    batch = structures_to_batch(structures, model.atomic_numbers.tolist(), model.r_max, device)
    out = evaluate_batch(model, batch, virial=stress)
    if stress:
        out[keys.STRESS] = stress_from_virial(out[keys.VIRIAL], cell_volume(batch[keys.CELL]))
    out[keys.PTR] = batch[keys.PTR]
    _check_finite(out, batch)
    return {k: v.detach() for k, v in out.items()}


def _check_finite(out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor]):
    """ValueError naming the structures (batch indices) whose outputs hold NaN or inf."""
    bad = ~torch.isfinite(out[keys.ENERGY].detach())
    bad.index_put_((batch[keys.BATCH],), ~torch.isfinite(out[keys.FORCES].detach()).all(dim=1), accumulate=True)
    if keys.STRESS in out:
        bad |= ~torch.isfinite(out[keys.STRESS].detach()).flatten(1).all(dim=1)
    if bad.any():
        raise ValueError(
            f"the model returned NaN or inf for structure(s) {bad.nonzero().flatten().tolist()} of this batch: "
            f"check that their positions and cell are in Å and physical; if every structure fails, the model "
            f"itself holds NaN (a diverged training run): use another checkpoint"
        )
