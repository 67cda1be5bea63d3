"""The product basis block is O(3)-equivariant for the paper's three bases and odd products."""

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
