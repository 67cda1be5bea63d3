"""The product basis block is O(3)-equivariant for the paper's three bases and odd products, and complete."""

import numpy as np
import pytest
import torch

from ictp.model.config import PRODUCT_BASES
from ictp.nn.product_basis import ProductBasisBlock
from ictp.tensors.irreps import irreps_up_to, plain_layout
from ictp.tensors.representation import get_representation
from ictp.testing import assert_equivariant, layout_action, random_features, random_orthogonal

CASES = [(rep, odd, improper) for rep in ("compressed", "dense") for odd in (False, True) for improper in (False, True)]


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
@pytest.mark.parametrize("basis", sorted(PRODUCT_BASES))
def test_product_basis_block_is_equivariant(rep_name, odd, improper, basis, dtype):
    rep = get_representation(rep_name)
    irreps_a, irreps_out = irreps_up_to(2, odd), irreps_up_to(1, odd)
    block = ProductBasisBlock(irreps_a, irreps_out, 3, 4, 5, 2, odd_products=odd, rep=rep, **PRODUCT_BASES[basis]).to(dtype)
    la, lo = plain_layout(irreps_a, rep.dim), plain_layout(irreps_out, rep.dim)
    a, sc = random_features(la, rep, (6, 4), dtype=dtype), random_features(lo, rep, (6, 5), seed=2, dtype=dtype)
    species = torch.tensor([0, 1, 1, 0, 1, 0])
    assert_equivariant(
        block, [a, species, sc], [layout_action(la, rep), None, layout_action(lo, rep)], [layout_action(lo, rep)],
        random_orthogonal(4, improper),
    )  # fmt: skip


def test_an_unreachable_output_irrep_is_a_clear_error():
    rep = get_representation("compressed")
    with pytest.raises(ValueError, match="no product reaches output irrep"):
        ProductBasisBlock(irreps_up_to(1), irreps_up_to(3), 1, 4, 4, 1, odd_products=False, rep=rep, **PRODUCT_BASES["sym"])


def _character(irreps, angle: np.ndarray, inversion: bool) -> np.ndarray:
    """Character of ``⊕ irreps`` at a rotation by ``angle`` (radians), composed with the inversion if asked."""
    total = np.zeros_like(angle)
    for ir in irreps:
        total += (ir.p if inversion else 1) * np.sin((2 * ir.l + 1) * angle / 2) / np.sin(angle / 2)
    return total


def _symmetric_power_multiplicity(irreps_a, irrep, degree: int) -> int:
    """How often ``irrep`` occurs in ``Sym^degree(⊕ irreps_a)``, by integrating characters over O(3).

    The character of the symmetric power is the cycle index of the symmetric group evaluated
    at ``χ(g^k)``; SO(3) is integrated over the rotation angle with the Weyl density
    ``(1 - cos θ) / π``, and the two cosets of O(3) are averaged.
    """
    cycle_index = {  # {coefficient: [cycle lengths]} of S_n, divided by n!
        1: [(1, [1])],
        2: [(1 / 2, [1, 1]), (1 / 2, [2])],
        3: [(1 / 6, [1, 1, 1]), (1 / 2, [2, 1]), (1 / 3, [3])],
        4: [(1 / 24, [1, 1, 1, 1]), (1 / 4, [2, 1, 1]), (1 / 8, [2, 2]), (1 / 3, [3, 1]), (1 / 4, [4])],
    }[degree]
    n = 4000
    angle = (np.arange(n) + 0.5) * np.pi / n
    density = (1 - np.cos(angle)) / n
    total = 0.0
    for inversion in (False, True):
        sym = sum(c * np.prod([_character(irreps_a, k * angle, inversion and k % 2 == 1) for k in cycles], axis=0)
                  for c, cycles in cycle_index)  # fmt: skip
        total += 0.5 * np.sum(density * sym * _character([irrep], angle, inversion))
    return round(total)


@pytest.mark.parametrize("l_a,l_out,correlation", [(2, 1, 3), (3, 2, 3), (2, 1, 4)])
@pytest.mark.parametrize("odd", [False, True])
@pytest.mark.parametrize("basis", ["sym", "full"])
def test_the_product_basis_spans_every_equivariant_polynomial_of_each_degree(l_a, l_out, correlation, odd, basis):
    """Truncating the intermediate ranks at ``l_a`` (and, for ``sym``, keeping one of each mirrored pair)
    loses nothing: order k's paths span all equivariant degree-k polynomials of A into each output
    irrep, as many as that irrep's multiplicity in ``Sym^k(A)`` (the span of MACE's generalised CG basis)."""
    rep = get_representation("compressed")
    irreps_a, irreps_out = irreps_up_to(l_a, odd), irreps_up_to(l_out, odd)
    block = ProductBasisBlock(
        irreps_a, irreps_out, correlation, 1, 1, 1, odd_products=odd, rep=rep, **PRODUCT_BASES[basis]
    )
    samples = 300
    a = random_features(plain_layout(irreps_a, rep.dim), rep, (samples, 1), dtype=torch.float64)
    products = [a]
    for product in block.products:
        products.append(product(products[-1], a))
    for irrep, source, dim in zip(irreps_out, block.sources, block.dims):
        blocks = {source[s] + 1: (source[s + 1], source[s + 2]) for s in range(0, len(source), 3)}
        for degree in range(1, correlation + 1):
            rank = 0
            if degree in blocks:
                offset, paths = blocks[degree]
                values = products[degree - 1].narrow(2, offset, paths * dim).reshape(samples, paths, dim)
                rank = int(torch.linalg.matrix_rank(values.transpose(0, 1).reshape(paths, -1), rtol=1e-9))
            assert rank == _symmetric_power_multiplicity(irreps_a, irrep, degree), (str(irrep), degree)
