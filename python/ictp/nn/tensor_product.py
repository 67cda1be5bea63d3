"""The two tensor-product layers of the model, built from a representation's coupling tables.

* :class:`ChannelwiseProduct` — ``x ⊗ y`` with both inputs carrying the same
  channels, channel u of x meeting only channel u of y (the product basis).
* :class:`EdgeTensorProduct` — node features of the sending atom times the
  one-channel edge harmonics, each path weighted by a per-edge, per-channel
  radial weight (the interaction's convolution).

Each has two implementations that give the same numbers: the reference, plain
dense matrix products over precomputed coupling matrices (TorchScript-able,
differentiable to any order, used in training), and the fused CPU kernels of
:mod:`ictp.kernels` (``fused = True``; first derivatives only, far less memory
traffic), which :meth:`ictp.ICTP.set_kernels` switches on. The representation
(dense ``3^l`` or compressed ``2l+1``) only changes the tables.
"""

import math
from typing import List, Sequence

import torch
from torch import nn

from .. import kernels
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
        self.out_dim = layout_out.dim
        self.fused = False
        self.register_buffer("couplings", _product_couplings(layout1, layout2, instructions, rep), persistent=False)
        self.register_buffer("values", _coupling_values(layout1, layout2, instructions, rep), persistent=False)
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
        if self.fused:
            return self._fused(x, y)
        results: List[torch.Tensor] = []
        for block in self.blocks:
            results.append(block(x, y))
        n, c = x.shape[0], x.shape[1]
        pieces: List[torch.Tensor] = []
        for b, col, d in zip(self.piece_block, self.piece_col, self.piece_dim):
            piece = results[b].narrow(3, col, d)
            pieces.append(piece.reshape(n, c, piece.shape[2] * d))
        return torch.cat(pieces, dim=2)

    @torch.jit.unused
    def _fused(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_last = x.transpose(1, 2).contiguous()  # free when x came from a fused product
        y_last = x_last if y is x else y.transpose(1, 2).contiguous()
        out = kernels.channelwise_product(x_last, y_last, self.couplings, self.values, self.out_dim)
        return out.transpose(1, 2)


class EdgeTensorProduct(nn.Module):
    """The interaction's convolution: weighted products of sender features with edge harmonics, summed per receiver.

    ``M_i = Σ_{edges j→i} m_ij`` with ``m_ij^{(p)} = w_ij[u, p] · α_{l3} · (h_{j,u}^{(l1)} ⊗ Y_ij^{(l2)})^{(l3)}``,
    one message per path p, ``α_{l3} = 1/sqrt(#paths into l3)`` (``uvu`` normalisation).
    The reference contracts the harmonics with the coupling tables first
    (``[E, h_dim, out_dim]``, independent of channels), then applies them to every
    channel as one batched matrix product.

    Shapes: ``h [N, C, layout_h.dim]`` (node features), ``y [E, layout_y.dim]``,
    ``weights [E, C, num_paths]`` (``[E, num_paths, C]`` when ``fused``), ``edge_index [2, E]``
    (receiver, sender; every receiver below ``num_receivers``) → ``[num_receivers, C, layout_out.dim]``.
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
        self.fused = False
        self.num_paths = len(instructions)
        self.h_dim, self.out_dim = layout_h.dim, layout_out.dim
        table = torch.zeros(layout_y.dim, layout_h.dim, layout_out.dim, dtype=torch.float64)
        path_of_column, paths, values = [], [], []
        col = 0
        for p, c in enumerate(instructions):
            l1, l2, l3 = layout_h.irreps[c.i1].l, layout_y.irreps[c.i2].l, c.irrep_out.l
            coupling = rep.coupling(l1, l2, l3) / math.sqrt(layout_out.mult(c.irrep_out))  # [d1, d2, d3]
            h0, y0 = layout_h.offsets[c.i1], layout_y.offsets[c.i2]
            d1, d2, d3 = coupling.shape
            table[y0 : y0 + d2, h0 : h0 + d1, col : col + d3] = coupling.transpose(0, 1)
            paths.append([h0, d1, y0, d2, col, d3, sum(v.numel() for v in values)])
            values.append(coupling.reshape(-1))
            path_of_column += [p] * d3
            col += d3
        self.register_buffer("table", table.reshape(layout_y.dim, -1))  # [y_dim, h_dim * out_dim]
        # 0/1 matrix that copies each path's weight onto its components (a matmul is far
        # faster than indexing along the last axis, forward and backward).
        expand = torch.zeros(self.num_paths, layout_out.dim, dtype=torch.float64)
        expand[path_of_column, torch.arange(layout_out.dim)] = 1.0
        self.register_buffer("expand", expand)
        # the same couplings as the fused kernel reads them (kernels/edge_convolution.cpp)
        self.register_buffer("paths", torch.tensor(paths, dtype=torch.long).reshape(-1, 7), persistent=False)
        self.register_buffer("values", torch.cat(values), persistent=False)

    def forward(
        self, h: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, edge_index: torch.Tensor, num_receivers: int
    ) -> torch.Tensor:
        if self.fused:
            return self._fused(h, y, weights, edge_index, num_receivers)
        receiver, sender = edge_index[0], edge_index[1]
        coupling = (y @ self.table).reshape(-1, self.h_dim, self.out_dim)  # [E, h_dim, out_dim]
        h_j = h.index_select(0, sender)  # [E, C, h_dim]
        if self.h_dim == 1:  # scalar input (first layer): weight the scalars first, then one outer product
            messages = ((h_j * weights) @ self.expand) * coupling
        else:
            messages = torch.bmm(h_j, coupling) * (weights @ self.expand)  # [E, C, out_dim]
        out = torch.zeros(num_receivers, h.shape[1], self.out_dim, dtype=messages.dtype, device=messages.device)
        return out.index_add(0, receiver, messages)

    @torch.jit.unused
    def _fused(self, h: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, edge_index: torch.Tensor, num_receivers: int):
        h_last = h.transpose(1, 2).contiguous()
        out = kernels.edge_convolution(
            h_last, y, weights, edge_index[1], edge_index[0], self.paths, self.values, self.out_dim, num_receivers
        )  # fmt: skip
        return out.transpose(1, 2)


def _coupling_values(layout1: Layout, layout2: Layout, instructions: Sequence[Coupling], rep: Representation) -> torch.Tensor:
    """The coupling blocks ``[d1, d2, d3]`` of every instruction, flattened one after the other."""
    blocks = [rep.coupling(layout1.irreps[c.i1].l, layout2.irreps[c.i2].l, c.irrep_out.l) for c in instructions]
    return torch.cat([b.reshape(-1) for b in blocks])


def _product_couplings(layout1: Layout, layout2: Layout, instructions: Sequence[Coupling], rep: Representation) -> torch.Tensor:
    """``[K, 8]`` rows ``(x_off, m1, d1, y_off, d2, out_off, d3, value_off)`` (kernels/channelwise_product.cpp)."""
    rows, out_offset, value_offset = [], 0, 0
    for c in instructions:  # sorted by output irrep: the output's blocks in order
        m1, d1, d2, d3 = layout1.mults[c.i1], layout1.dims[c.i1], layout2.dims[c.i2], rep.dim(c.irrep_out.l)
        rows.append([layout1.offsets[c.i1], m1, d1, layout2.offsets[c.i2], d2, out_offset, d3, value_offset])
        out_offset += m1 * d3
        value_offset += d1 * d2 * d3
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 8)
