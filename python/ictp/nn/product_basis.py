"""Product basis: many-body features from iterated channel-wise products of the atomic basis A.

``P⁽¹⁾ = A`` and ``P⁽ᵏ⁾ = P⁽ᵏ⁻¹⁾ ⊗ A`` for k = 2..ν (intermediate ranks truncated at
the rank of A, the last product at the output rank). Each order is summed over
its paths with learnable, species-dependent weights, and the orders are added:
a body-order ν+1 basis without generalised Clebsch-Gordan tables
(arXiv:2405.14253, Sec. 4). Then a linear map back to the hidden channels and
the skip connection give the new node features.

Variants (the paper's product bases):

* ``full``: every ordered pair of ranks in ``A ⊗ A``;
* ``sym``: ``A ⊗ A`` keeps only ``l1 >= l2`` (the pairs are identical up to order);
* ``coupled=True`` (the latent "sym+lt" variant, with its own channel count):
  the path sum also mixes channels, a species-dependent linear map from
  ``channels × paths`` to channels, instead of one weight per channel and path.
"""

import math
from typing import List, Sequence

import torch
from torch import nn

from ..tensors.irreps import Irrep, Layout, plain_layout
from ..tensors.products import couplings, output_layout
from ..tensors.representation import Representation
from .linear import IrrepLinear, species_matmul
from .tensor_product import ChannelwiseProduct

__all__ = ["ProductBasisBlock"]


def _path_sum_weight(num_species: int, channels: int, mults: List[int], coupled: bool) -> torch.Tensor:
    """Initial path-sum weights, one segment per correlation order, scaled by that order's path count."""
    segments = []
    for mult in mults:
        if coupled:
            segments.append(torch.randn(num_species, channels * mult, channels, dtype=torch.float64) / (mult * math.sqrt(channels)))
        else:
            segments.append(torch.randn(num_species, channels, mult, dtype=torch.float64) / mult)
    # Coupled weights are stored [S, paths, C_in, C_out] flattened as rows (path-major within an order).
    if coupled:
        segments = [s.reshape(num_species, -1, channels, channels) for s in segments]
        return torch.cat(segments, 1)
    return torch.cat(segments, 2)


class ProductBasisBlock(nn.Module):
    """``A [N, C_p, dim_A]``, ``species [N]``, ``sc [N, C, dim_out]`` → new node features ``[N, C, dim_out]``."""

    def __init__(
        self,
        irreps_a: Sequence[Irrep],
        irreps_out: Sequence[Irrep],
        correlation: int,
        num_product_channels: int,
        num_channels: int,
        num_species: int,
        symmetric: bool,
        coupled: bool,
        odd_products: bool,
        rep: Representation,
    ):
        super().__init__()
        if correlation < 1:
            raise ValueError(f"correlation order must be >= 1, got {correlation}")
        self.coupled = coupled
        layout_a = plain_layout(irreps_a, rep.dim)
        layouts: List[Layout] = [layout_a]
        products = []
        for order in range(2, correlation + 1):
            targets = irreps_a if order < correlation else irreps_out
            instructions = couplings(
                layouts[-1], layout_a, targets, odd_products=odd_products, symmetric=symmetric and order == 2
            )
            layout = output_layout(layouts[-1], layout_a, instructions, rep.dim)
            products.append(ChannelwiseProduct(layouts[-1], layout_a, instructions, layout, rep))
            layouts.append(layout)
        self.products = nn.ModuleList(products)
        # For every output irrep: flat [order, offset, mult, ...] of its blocks, and its component dim.
        self.sources: List[List[int]] = []
        self.dims: List[int] = []
        weights = []
        for irrep in irreps_out:
            source, mults = [], []
            for order, layout in enumerate(layouts):
                k = layout.index(irrep)
                if k >= 0:
                    source += [order, layout.offsets[k], layout.mults[k]]
                    mults.append(layout.mults[k])
            if not mults:
                raise ValueError(f"no product reaches output irrep {irrep}; lower the output rank or raise the correlation")
            self.sources.append(source)
            self.dims.append(rep.dim(irrep.l))
            weights.append(nn.Parameter(_path_sum_weight(num_species, num_product_channels, mults, coupled)))
        self.weights = nn.ParameterList(weights)
        self.linear = IrrepLinear(plain_layout(irreps_out, rep.dim), irreps_out, num_product_channels, num_channels, rep.dim)

    def forward(self, a: torch.Tensor, species: torch.Tensor, sc: torch.Tensor) -> torch.Tensor:
        n, c = a.shape[0], a.shape[1]
        basis: List[torch.Tensor] = [a]
        for product in self.products:
            basis.append(product(basis[-1], a))
        outs: List[torch.Tensor] = []
        for k, weight in enumerate(self.weights):
            source, dim = self.sources[k], self.dims[k]
            blocks: List[torch.Tensor] = []
            for s in range(0, len(source), 3):
                order, offset, mult = source[s], source[s + 1], source[s + 2]
                blocks.append(basis[order].narrow(2, offset, mult * dim).reshape(n, c, mult, dim))
            paths = torch.cat(blocks, dim=2)  # [N, C_p, P, dim]
            if self.coupled:
                flat = paths.reshape(n, c * paths.shape[2], dim).transpose(1, 2)  # [N, dim, C_p * P], channel-major
                w = weight.transpose(1, 2).reshape(weight.shape[0], -1, c)  # [S, C_p * P, C_p]
                outs.append(species_matmul(flat, w, species).transpose(1, 2))
            else:
                outs.append(torch.einsum("ncpd,ncp->ncd", paths, weight.index_select(0, species)))
        return self.linear(torch.cat(outs, dim=2)) + sc
