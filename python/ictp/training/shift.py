"""Refitting the per-species energy shift after every epoch (``refit_shift``, docs/training.md).

A constant energy per species is invisible to forces and stress, so only the
energy term of the loss pins it, and every optimiser step on the network moves
it a little: the validation energy error then carries a per-atom offset that
wanders from epoch to epoch. After each epoch the shift μ is set to the least-squares
optimum of the energy term for the network as it is now, in closed form:

``δ = argmin Σ_b w_b (E_b − Ê_b − n_b·δ)²``, ``μ ← μ + δ``,

with ``n_b`` the species counts of structure ``b`` and ``w_b = 1/N_b²`` (``mean``
loss) or ``1/N_b`` (``sum``), the weights the loss gives energies. Species that
always come in a fixed ratio (one molecule) share δ by the minimum-norm solution.
"""

from typing import Sequence

import torch

from .. import keys
from ..data.dataset import GraphDataset
from ..data.graph import edge_vectors

__all__ = ["refit_shift"]


@torch.no_grad()
def refit_shift(model, dataset: GraphDataset, batch_size: int, reduction: str, group) -> torch.Tensor:
    """Add to ``model.shift`` the δ (eV per species, ``[num_species]``) that minimises the training energy loss.

    Energies only (no forces), batches dealt out over the processes of ``group``
    (:class:`ictp.training.distributed.Distributed`), whose sums every process then
    solves alike. Returns δ; zero if no structure of ``dataset`` has an energy label.
    """
    num_species = model.shift.shape[0]
    normal = torch.zeros(num_species, num_species, dtype=torch.float64)
    rhs = torch.zeros(num_species, dtype=torch.float64)
    for start in group.share(list(range(0, len(dataset), batch_size))):
        batch = dataset.batch(range(start, min(start + batch_size, len(dataset))), group.device)
        counts, residual, weight = _residuals(model, batch, reduction)
        normal += counts.T @ (weight.unsqueeze(1) * counts)
        rhs += counts.T @ (weight * residual)
    summed = torch.tensor(group.sum([*normal.flatten().tolist(), *rhs.tolist()]), dtype=torch.float64)
    normal, rhs = summed[: num_species**2].view(num_species, num_species), summed[num_species**2 :]
    delta = torch.linalg.pinv(normal, rtol=1e-10, hermitian=True) @ rhs
    model.shift += delta.to(model.shift)
    return delta


def _residuals(model, batch, reduction: str) -> Sequence[torch.Tensor]:
    """Species counts ``[B, S]``, residuals ``E − Ê`` ``[B]`` (eV) and loss weights ``[B]`` (0 if unlabelled)."""
    node_energies = model(batch[keys.SPECIES], batch[keys.EDGE_INDEX], edge_vectors(batch).to(model.dtype))
    num_structures = batch[keys.PTR].numel() - 1
    energy = torch.zeros(num_structures, dtype=torch.float64, device=node_energies.device)
    energy.index_add_(0, batch[keys.BATCH], node_energies.double())
    one_hot = torch.nn.functional.one_hot(batch[keys.SPECIES], model.shift.shape[0]).double()
    counts = torch.zeros(num_structures, one_hot.shape[1], dtype=torch.float64, device=energy.device)
    counts.index_add_(0, batch[keys.BATCH], one_hot)
    num_atoms = batch[keys.NUM_ATOMS].double()
    weight = batch[keys.HAS_ENERGY].double() / (num_atoms**2 if reduction == "mean" else num_atoms)
    residual = torch.where(batch[keys.HAS_ENERGY], batch[keys.REF_ENERGY].double() - energy, 0.0)
    return counts.cpu(), residual.cpu(), weight.cpu()
