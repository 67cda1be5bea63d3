"""The two tensor-product layers of the model, built from a representation's coupling tables.

* :class:`ChannelwiseProduct` — ``x ⊗ y`` with both inputs carrying the same
  channels, channel u of x meeting only channel u of y (the product basis).
* :class:`EdgeTensorProduct` — node features of the sending atom times the
  one-channel edge harmonics, each path weighted by a per-edge, per-channel
  radial weight (the interaction's convolution).

Both are plain dense matrix products over precomputed coupling matrices, so
they are TorchScript-able and fast on CPUs and GPUs; the representation
(dense ``3^l`` or compressed ``2l+1``) only changes the tables.
"""

import math
from typing import List, Sequence

import torch
from torch import nn

from ..tensors.irreps import Layout
from ..tensors.products import Coupling
from ..tensors.representation import Representation

__all__ = ["ChannelwiseProduct", "EdgeTensorProduct"]


class _BlockProduct(nn.Module):
    """All couplings of one block of ``x`` (``mult`` paths, ``dim`` components) with the whole of ``y``."""

    def __init__(self, offset: int, mult: int, dim: int, table: torch.Tensor):
        super().__init__()
        self.offset, self.mult, self.dim = offset, mult, dim
        self.register_buffer("table", table)  # [dim * y_dim, out_cols]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x [N, C, x_dim]``, ``y [N, C, y_dim]`` → ``[N, C, mult, out_cols]``."""
        n, c = x.shape[0], x.shape[1]
        xb = x.narrow(2, self.offset, self.mult * self.dim).reshape(n, c, self.mult, self.dim, 1)
        outer = (xb * y.reshape(n, c, 1, 1, y.shape[2])).reshape(n * c * self.mult, self.table.shape[0])
        return (outer @ self.table).reshape(n, c, self.mult, self.table.shape[1])


class ChannelwiseProduct(nn.Module):
    """Channel-wise irreducible product of a path tensor and a plain tensor.

    Parameters
    ----------
    layout1, layout2 : Layout
        Inputs; ``layout2`` has one path per irrep.
    instructions : list of Coupling
        From :func:`ictp.tensors.products.couplings`, sorted by output irrep.
    layout_out : Layout
        From :func:`ictp.tensors.products.output_layout`.

    Shapes: ``x [N, C, layout1.dim]``, ``y [N, C, layout2.dim]`` → ``[N, C, layout_out.dim]``.
    """

    def __init__(
        self,
        layout1: Layout,
        layout2: Layout,
        instructions: Sequence[Coupling],
        layout_out: Layout,
        rep: Representation,
    ):
        super().__init__()
        if set(layout2.mults) - {1}:
            raise ValueError(f"the second factor must be a plain tensor, got layout {layout2}")
        used = sorted({c.i1 for c in instructions})
        blocks = []
        # For every coupling: (which block product, first column, number of columns).
        self.piece_block: List[int] = []
        self.piece_col: List[int] = []
        self.piece_dim: List[int] = []
        for b, i1 in enumerate(used):
            ir1, d1 = layout1.irreps[i1], layout1.dims[i1]
            table_cols = []
            for c in instructions:
                if c.i1 != i1:
                    continue
                ir2 = layout2.irreps[c.i2]
                coupling = rep.coupling(ir1.l, ir2.l, c.irrep_out.l)  # [d1, d2, d3]
                block = torch.zeros(d1, layout2.dim, coupling.shape[2], dtype=torch.float64)
                block[:, layout2.offsets[c.i2] : layout2.offsets[c.i2] + layout2.dims[c.i2]] = coupling
                table_cols.append(block.reshape(d1 * layout2.dim, -1))
            blocks.append(_BlockProduct(layout1.offsets[i1], layout1.mults[i1], d1, torch.cat(table_cols, 1)))
        self.blocks = nn.ModuleList(blocks)
        col = {i1: 0 for i1 in used}
        for c in instructions:  # already sorted by output irrep: pieces come in output order
            d3 = rep.dim(c.irrep_out.l)
            self.piece_block.append(used.index(c.i1))
            self.piece_col.append(col[c.i1])
            self.piece_dim.append(d3)
            col[c.i1] += d3

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        results: List[torch.Tensor] = []
        for block in self.blocks:
            results.append(block(x, y))
        n, c = x.shape[0], x.shape[1]
        pieces: List[torch.Tensor] = []
        for b, col, d in zip(self.piece_block, self.piece_col, self.piece_dim):
            piece = results[b].narrow(3, col, d)
            pieces.append(piece.reshape(n, c, piece.shape[2] * d))
        return torch.cat(pieces, dim=2)


class EdgeTensorProduct(nn.Module):
    """Weighted product of sender features with edge harmonics, ``uvu`` normalised.

    ``m_e^{(p)} = w_e[u, p] · α_{l3} · (h_{j,u}^{(l1)} ⊗ Y_e^{(l2)})^{(l3)}`` with
    ``α_{l3} = 1/sqrt(#paths into l3)``. The harmonics are contracted with the
    coupling tables first (``[E, h_dim, out_dim]``, independent of channels), then
    applied to every channel as one batched matrix product.

    Shapes: ``h [E, C, layout_h.dim]``, ``y [E, layout_y.dim]``,
    ``weights [E, C, num_paths]`` → ``[E, C, layout_out.dim]``.
    """

    def __init__(
        self,
        layout_h: Layout,
        layout_y: Layout,
        instructions: Sequence[Coupling],
        layout_out: Layout,
        rep: Representation,
    ):
        super().__init__()
        if set(layout_h.mults) - {1} or set(layout_y.mults) - {1}:
            raise ValueError("the edge tensor product takes plain features and plain harmonics")
        self.num_paths = len(instructions)
        self.h_dim, self.out_dim = layout_h.dim, layout_out.dim
        table = torch.zeros(layout_y.dim, layout_h.dim, layout_out.dim, dtype=torch.float64)
        path_of_column = []
        col = 0
        for p, c in enumerate(instructions):
            l1, l2, l3 = layout_h.irreps[c.i1].l, layout_y.irreps[c.i2].l, c.irrep_out.l
            coupling = rep.coupling(l1, l2, l3) / math.sqrt(layout_out.mult(c.irrep_out))  # [d1, d2, d3]
            h0, y0, d3 = layout_h.offsets[c.i1], layout_y.offsets[c.i2], coupling.shape[2]
            table[y0 : y0 + coupling.shape[1], h0 : h0 + coupling.shape[0], col : col + d3] = coupling.transpose(0, 1)
            path_of_column += [p] * d3
            col += d3
        self.register_buffer("table", table.reshape(layout_y.dim, -1))  # [y_dim, h_dim * out_dim]
        # 0/1 matrix that copies each path's weight onto its components (a matmul is far
        # faster than indexing along the last axis, forward and backward).
        expand = torch.zeros(self.num_paths, layout_out.dim, dtype=torch.float64)
        expand[path_of_column, torch.arange(layout_out.dim)] = 1.0
        self.register_buffer("expand", expand)

    def forward(self, h: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        coupling = (y @ self.table).reshape(-1, self.h_dim, self.out_dim)  # [E, h_dim, out_dim]
        if self.h_dim == 1:  # scalar input (first layer): weight the scalars first, then one outer product
            return ((h * weights) @ self.expand) * coupling
        return torch.bmm(h, coupling) * (weights @ self.expand)  # [E, C, out_dim]
