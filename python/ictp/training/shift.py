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
from ..data.stats import species_counts
from ..model import evaluate_batch
from .loss import structure_sizes

__all__ = ["refit_shift"]


@torch.no_grad()
def refit_shift(model, dataset: GraphDataset, batch_size: int, reduction: str, group) -> torch.Tensor:
    """Add to ``model.shift`` the δ (eV per species, ``[num_species]``) that minimises the training energy loss.

    Energies only (without autograd no forces are computed), batches dealt out over the
    processes of ``group`` (:class:`ictp.training.distributed.Distributed`), whose sums every
    process then solves alike. Returns δ; zero if no structure of ``dataset`` has an energy label.
    """
    numbers = model.atomic_numbers.tolist()
    normal = torch.zeros(len(numbers), len(numbers), dtype=torch.float64)
    rhs = torch.zeros(len(numbers), dtype=torch.float64)
    for start in group.share(list(range(0, len(dataset), batch_size))):
        indices = range(start, min(start + batch_size, len(dataset)))
        counts = torch.from_numpy(species_counts([dataset.configurations[k] for k in indices], numbers))
        residual, weight = _residuals(model, dataset.batch(indices, group.device), reduction)
        normal += counts.T @ (weight.unsqueeze(1) * counts)
        rhs += counts.T @ (weight * residual)
    summed = torch.tensor(group.sum([*normal.flatten().tolist(), *rhs.tolist()]), dtype=torch.float64)
    normal, rhs = summed[: len(numbers) ** 2].view(len(numbers), len(numbers)), summed[len(numbers) ** 2 :]
    delta = torch.linalg.pinv(normal, rtol=1e-10, hermitian=True) @ rhs
    model.shift += delta.to(model.shift)
    return delta


def _residuals(model, batch, reduction: str) -> Sequence[torch.Tensor]:
    """Residuals ``E − Ê`` ``[B]`` (eV) and the loss's weights of ΔE² ``[B]`` (0 if unlabelled), float64 on the CPU."""
    has_energy = batch[keys.HAS_ENERGY]
    energy = evaluate_batch(model, batch)[keys.ENERGY].double()
    residual = torch.where(has_energy, batch[keys.REF_ENERGY].double() - energy, 0.0)
    weight = has_energy.double() / structure_sizes(batch, reduction, torch.float64)
    return residual.cpu(), weight.cpu()
