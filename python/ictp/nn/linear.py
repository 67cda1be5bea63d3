"""Equivariant linear maps: mix channels (and paths) within each irrep, never across components.

Weights are drawn from N(0, 1) and the forward pass divides by the square root
of the fan-in (e3nn/MACE convention), so features keep unit scale at
initialisation whatever the width.
"""

import math
from typing import List, Optional, Sequence

import torch
from torch import nn

from ..tensors.irreps import Irrep, Layout

__all__ = ["IrrepLinear", "species_matmul"]


def species_matmul(x: torch.Tensor, weight: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
    """Per-atom matrix product with the weight of the atom's species.

    ``x [N, K, C_in]``, ``weight [S, C_in, C_out]``, ``species [N]`` → ``[N, K, C_out]``.
    Computed for all species at once and then selected, which keeps it one
    matrix product (the number of species is small).
    """
    s, c_in, c_out = weight.shape
    n, k = x.shape[0], x.shape[1]
    all_species = (x.reshape(n * k, c_in) @ weight.permute(1, 0, 2).reshape(c_in, s * c_out)).reshape(n, k, s, c_out)
    index = species.reshape(n, 1, 1, 1).expand(n, k, 1, c_out)
    return all_species.gather(2, index).reshape(n, k, c_out)


def _blocks(layout_in: Layout, irreps_out: Sequence[Irrep]) -> List[List[int]]:
    """For each output irrep: [input offset, input mult, component dim] (mult 0 if absent)."""
    out = []
    for irrep in irreps_out:
        k = layout_in.index(irrep)
        out.append([layout_in.offsets[k], layout_in.mults[k], layout_in.dims[k]] if k >= 0 else [0, 0, 0])
    return out


class IrrepLinear(nn.Module):
    """Per irrep, a linear map from ``C_in × paths`` to ``C_out`` channels, no bias.

    With ``num_species > 0`` the weights also depend on the atom's species (the
    skip connection: the tensor product of the features with the species
    one-hot, ``uvw`` normalised by ``1/sqrt(C_in · paths · S)``).
    Shapes: ``[N, C_in, layout_in.dim]`` (and ``species [N]``) → ``[N, C_out, Σ dim(irreps_out)]``.
    Output irreps missing from the input are zero.
    """

    def __init__(self, layout_in: Layout, irreps_out: Sequence[Irrep], c_in: int, c_out: int, dim_of_rank, num_species: int = 0):
        super().__init__()
        self.c_in, self.c_out, self.num_species = c_in, c_out, num_species
        self.blocks: List[List[int]] = _blocks(layout_in, irreps_out)
        self.out_dims: List[int] = [dim_of_rank(ir.l) for ir in irreps_out]
        shape = (num_species,) if num_species else ()
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(*shape, c_in * max(mult, 1), c_out, dtype=torch.float64)) for _, mult, _ in self.blocks]
        )

    def forward(self, x: torch.Tensor, species: Optional[torch.Tensor] = None) -> torch.Tensor:
        n = x.shape[0]
        outs: List[torch.Tensor] = []
        for k, weight in enumerate(self.weights):
            offset, mult, dim = self.blocks[k][0], self.blocks[k][1], self.blocks[k][2]
            if mult == 0:
                outs.append(x.new_zeros(n, self.c_out, self.out_dims[k]))
            else:
                block = x.narrow(2, offset, mult * dim).reshape(n, self.c_in * mult, dim).transpose(1, 2)
                if species is None:
                    out = block @ (weight / math.sqrt(self.c_in * mult))
                else:
                    out = species_matmul(block, weight / math.sqrt(self.c_in * mult * self.num_species), species)
                outs.append(out.transpose(1, 2))
        return torch.cat(outs, dim=2)
