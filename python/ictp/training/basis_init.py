"""Scaling the atomic basis A at the start of training (``init_basis_rms``, docs/training.md).

With weights drawn as in MACE, the atomic basis A of each layer starts tiny: the
messages are summed over the neighbours and divided by their average number n̄,
and the radial weights of nearby and distant neighbours nearly cancel. On aspirin
A's RMS is 0.008 in the first layer and 0.002 in the second (MACE's: 0.007 and
0.0003), so the two- and three-body products of the product basis start at
1e-4 and 1e-6 of the one-body term, and training spends its first epochs growing
A by 10–50x. Before the first step this module multiplies each layer's map into
A (``linear_down``) by the factor that gives A the target RMS over the first
training structures, layer after layer (each layer's A depends on the layers
before). It changes weights only, so a model scaled this way runs and exports
like any other.
"""

import math

import torch

from ..data.dataset import GraphDataset
from ..model import evaluate_batch

__all__ = ["scale_atomic_basis"]

STRUCTURES = 100
"""How many training structures (the first ones) measure A."""


@torch.no_grad()
def scale_atomic_basis(model, dataset: GraphDataset, target: float, batch_size: int, group) -> list:
    """Scale every layer's ``linear_down`` so that A's RMS over the first structures of ``dataset`` is ``target``.

    Energies only, batches dealt out over the processes of ``group``
    (:class:`ictp.training.distributed.Distributed`), which then all apply the same factors.
    Returns the factor of each layer.
    """
    count = min(len(dataset), STRUCTURES)
    starts = group.share(list(range(0, count, batch_size)))
    factors = []
    for block in model.interactions:
        sums = [0.0, 0.0]  # Σ A², number of entries

        def measure(module, inputs, outputs):
            sums[0] += outputs[0].double().pow(2).sum().item()
            sums[1] += outputs[0].numel()

        handle = block.register_forward_hook(measure)
        try:
            for start in starts:
                evaluate_batch(model, dataset.batch(range(start, min(start + batch_size, count)), group.device))
        finally:
            handle.remove()
        total, entries = group.sum(sums)
        rms = math.sqrt(total / entries)
        if not (math.isfinite(rms) and rms > 0):
            raise ValueError(
                f"the atomic basis of layer {len(factors)} is {rms} on the first {count} training structures: "
                "do they have neighbours within r_max? Set init_basis_rms: null to train without scaling it"
            )
        factor = target / rms
        for weight in block.linear_down.weights:
            weight.mul_(factor)
        factors.append(factor)
    return factors
