"""Which irreducible products a layer forms: coupling instructions and path counts.

A product of a path tensor ``x`` (layout with multiplicities) and a plain
tensor ``y`` (one path per irrep) couples every block ``(l1, p1)`` of ``x``
with every block ``(l2, p2)`` of ``y`` into each allowed ``(l3, p1·p2)`` with
``|l1-l2| <= l3 <= l1+l2``. The coupling is *even* when ``l1+l2-l3`` is even
(contractions with δ, the paper's products) and *odd* otherwise (one
Levi-Civita symbol; only with ``odd_products=True``). Paths multiply: block
``(l1, m1 paths)`` with ``(l2, 1 path)`` gives ``m1`` output paths per coupling.

``symmetric=True`` is for the product of a tensor with itself: a coupling of
blocks ``(i, j)`` equals that of ``(j, i)`` up to sign, so only ``i >= j`` is
kept (the paper's "sym" product basis), and odd couplings of a block with
itself vanish identically and are always dropped.
"""

from dataclasses import dataclass
from typing import List, Sequence

from .irreps import Irrep, Layout

__all__ = ["Coupling", "couplings", "output_layout"]


@dataclass(frozen=True)
class Coupling:
    """Couple block ``i1`` of the first input with block ``i2`` of the second into ``irrep_out``."""

    i1: int
    i2: int
    irrep_out: Irrep


def couplings(
    layout1: Layout,
    layout2: Layout,
    irreps_out: Sequence[Irrep],
    odd_products: bool = False,
    symmetric: bool = False,
) -> List[Coupling]:
    """All couplings of ``layout1 ⊗ layout2`` into ``irreps_out``, sorted by output irrep.

    Within one output irrep the order is by ``(i1, i2)``; the output's paths
    follow this order (see :func:`output_layout`).
    """
    if symmetric and (layout1.irreps != layout2.irreps or set(layout1.mults) != {1}):
        raise ValueError("the symmetric product needs two identical plain layouts")
    out = []
    for irrep_out in sorted(set(irreps_out), key=Irrep.sort_key):
        for i1, ir1 in enumerate(layout1.irreps):
            for i2, ir2 in enumerate(layout2.irreps):
                l1, l2, l3 = ir1.l, ir2.l, irrep_out.l
                if not abs(l1 - l2) <= l3 <= l1 + l2 or ir1 * ir2 != irrep_out.p:
                    continue
                odd = (l1 + l2 - l3) % 2 == 1
                if odd and not odd_products:
                    continue
                if symmetric and (i1 < i2 or (odd and i1 == i2)):
                    continue
                out.append(Coupling(i1, i2, irrep_out))
    return out


def output_layout(layout1: Layout, layout2: Layout, instructions: Sequence[Coupling], dim_of_rank) -> Layout:
    """Layout of the product's output: per irrep, the paths of all its couplings in order."""
    mults = {}
    for c in instructions:
        mults[c.irrep_out] = mults.get(c.irrep_out, 0) + layout1.mults[c.i1] * layout2.mults[c.i2]
    return Layout(sorted(mults.items(), key=lambda kv: kv[0].sort_key()), dim_of_rank)
