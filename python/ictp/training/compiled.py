"""Compiled training steps (``compile: true``): the same energies, forces and gradients, in less time.

A loss on forces differentiates the model twice: once for the forces (with respect to the edge
vectors), once more for the parameters. Eager PyTorch runs both backward passes op by op over
tensors of ``[edges, channels, components]``. Here the model's per-atom energies and their gradient
with respect to the edge vectors are one function, the inner derivative taken with
:func:`torch.func.vjp`, compiled by :func:`torch.compile` with dynamic shapes: Inductor fuses the
forward and the forces' graph, and AOTAutograd derives the parameters' gradient of any loss on them.
Energies per structure, forces and virials then follow as in :func:`ictp.model.evaluate_batch`.

The first step compiles (minutes on one CPU core; a later run of the same model reuses Inductor's
on-disk cache); numbers agree with the eager step to rounding (``tests/training/test_compiled_training.py``).
"""

from typing import Dict, Tuple

import torch

from .. import keys
from ..data.graph import edge_vectors
from ..model import ICTP
from ..model.outputs import energy_derivatives

__all__ = ["CompiledForces"]

BACKEND = "inductor"
"""torch.compile's backend; the tests use ``aot_eager`` (the same graph capture and autograd, no code generation)."""


class CompiledForces:
    """``evaluate_batch(model, batch, virial, create_graph=True)``, compiled; for training steps only.

    Call it on a collated batch (:mod:`ictp.data.graph`) → ``energy [B]``, ``energies [N]``,
    ``forces [N, 3]`` and, with ``virial=True``, ``virial [B, 3, 3]``, all differentiable in the
    model's parameters. The model's weights may change between calls (optimiser steps, EMA swaps).
    """

    def __init__(self, model: ICTP):
        self.model = model
        self._energies_and_gradient = torch.compile(self._eager, dynamic=True, backend=BACKEND)

    def _eager(self, species: torch.Tensor, edge_index: torch.Tensor, vectors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-atom energies ``[N]`` (eV) and ``∂E/∂r [E, 3]`` (eV/Å) for edge vectors ``[E, 3]`` (Å)."""
        energies, pullback = torch.func.vjp(lambda r: self.model(species, edge_index, r), vectors)
        return energies, pullback(torch.ones_like(energies))[0]

    def __call__(self, batch: Dict[str, torch.Tensor], virial: bool = False) -> Dict[str, torch.Tensor]:
        vectors = edge_vectors(batch).to(self.model.dtype)
        try:
            energies, gradient = self._energies_and_gradient(batch[keys.SPECIES], batch[keys.EDGE_INDEX], vectors)
        except torch._dynamo.exc.BackendCompilerFailed as error:  # e.g. no C++ compiler for Inductor
            cause = getattr(error, "inner_exception", None) or error
            reason = f"{type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[0]}"
            raise RuntimeError(
                f"compile: true, but torch.compile could not compile the training step ({reason}); train "
                "without it (compile=false, also on --resume), or see the error above this one"
            ) from error
        return energy_derivatives(
            energies, vectors, batch[keys.EDGE_INDEX], batch[keys.BATCH], batch[keys.PTR].numel() - 1,
            compute_virial=virial, edge_gradient=gradient,
        )  # fmt: skip
