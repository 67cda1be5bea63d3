"""Interaction block: one message-passing step from node features to the atomic basis A.

For receiver i and sender j (edge vector ``r_ij = r_i - r_j - shift``)::

    sc_i  = U_{Z_i} h_i                               skip connection, per species
    h_j  <- W_up h_j                                  channel mixing per irrep
    m_ij  = R(|r_ij|)[u, p] · α_{l3} (h_j ⊗ Y(r̂_ij))^{(l3)}   one message per path p
    A_i   = W_down (Σ_j m_ij) / n̄                     paths and channels mixed per irrep

``n̄`` is the average number of neighbours in the training set (a division, not
a square root). See arXiv:2405.14253, Sec. 4 and the MACE-like layer it builds on.
"""

from typing import Sequence

import torch
from torch import nn

from ..tensors.irreps import Irrep, plain_layout
from ..tensors.products import couplings, output_layout
from ..tensors.representation import Representation
from .linear import IrrepLinear
from .radial import MLP
from .tensor_product import EdgeTensorProduct

__all__ = ["InteractionBlock"]


class InteractionBlock(nn.Module):
    """Skip connection and atomic basis A for one layer.

    Parameters
    ----------
    irreps_in : node feature irreps of this layer's input (only ``0e`` for the first layer).
    irreps_edge : irreps of the edge harmonics Y (``0e … l_max_edge``).
    irreps_a : irreps of the atomic basis A (targets of the messages).
    irreps_out : irreps of the node features this layer produces (for the skip connection).
    radial_sizes : ``[num_bessel, *radial_mlp]``; the last layer (paths × channels) is appended.
    skip : with a species-dependent skip connection (all layers but the first).
    """

    def __init__(
        self,
        irreps_in: Sequence[Irrep],
        irreps_edge: Sequence[Irrep],
        irreps_a: Sequence[Irrep],
        irreps_out: Sequence[Irrep],
        num_channels: int,
        num_product_channels: int,
        num_species: int,
        radial_sizes: Sequence[int],
        odd_products: bool,
        rep: Representation,
        skip: bool = True,
    ):
        super().__init__()
        c = num_channels
        layout_h = plain_layout(irreps_in, rep.dim)
        layout_y = plain_layout(irreps_edge, rep.dim)
        # Without a skip in the first layer, an atom without neighbours has zero learned energy.
        self.skip = IrrepLinear(layout_h, irreps_out, c, c, rep.dim, num_species) if skip else None
        self.out_dim = sum(rep.dim(ir.l) for ir in irreps_out)
        self.linear_up = IrrepLinear(layout_h, irreps_in, c, c, rep.dim)
        instructions = couplings(layout_h, layout_y, irreps_a, odd_products=odd_products)
        layout_msg = output_layout(layout_h, layout_y, instructions, rep.dim)
        self.conv = EdgeTensorProduct(layout_h, layout_y, instructions, layout_msg, rep)
        self.num_channels = c
        self.radial = MLP([*radial_sizes, self.conv.num_paths * c])
        self.linear_down = IrrepLinear(layout_msg, irreps_a, c, num_product_channels, rep.dim)

    def forward(
        self,
        h: torch.Tensor,
        species: torch.Tensor,
        edge_harmonics: torch.Tensor,
        edge_radial: torch.Tensor,
        edge_index: torch.Tensor,
        avg_num_neighbors: torch.Tensor,
        num_receivers: int,
    ):
        """``h [N, C, dim_in]``, ``edge_harmonics [E, dim_Y]``, ``edge_radial [E, num_bessel]``,
        ``edge_index [2, E]`` (receiver, sender) → ``A [R, C_p, dim_A]``, ``sc [R, C, dim_out]`` for the
        first ``R = num_receivers`` nodes, which hold every edge's receiver (R = N, or the local atoms of
        a LAMMPS rank whose ghosts only send)."""
        if self.skip is not None:
            sc = self.skip(h.narrow(0, 0, num_receivers), species.narrow(0, 0, num_receivers))
        else:
            sc = h.new_zeros(num_receivers, self.num_channels, self.out_dim)
        h = self.linear_up(h)
        if self.conv.fused:  # the fused kernel reads the weights channels last
            weights = self.radial(edge_radial, self.num_channels).reshape(-1, self.conv.num_paths, self.num_channels)
        else:
            weights = self.radial(edge_radial).reshape(-1, self.num_channels, self.conv.num_paths)  # [E, C, P]
        aggregated = self.conv(h, edge_harmonics, weights, edge_index, num_receivers)  # [R, C, dim_msg]
        return self.linear_down(aggregated) / avg_num_neighbors, sc
