"""The two tensor products are O(3)-equivariant, in both representations, with and without odd products."""

import pytest
import torch

from ictp.nn.tensor_product import ChannelwiseProduct, EdgeTensorProduct
from ictp.tensors.irreps import irreps_up_to, plain_layout
from ictp.tensors.products import couplings, output_layout
from ictp.tensors.representation import get_representation
from ictp.testing import assert_equivariant, layout_action, random_features, random_orthogonal

CASES = [(rep, odd, improper) for rep in ("compressed", "dense") for odd in (False, True) for improper in (False, True)]


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
def test_channelwise_product_is_equivariant(rep_name, odd, improper, dtype):
    rep = get_representation(rep_name)
    a = plain_layout(irreps_up_to(2, odd), rep.dim)
    p2 = output_layout(a, a, couplings(a, a, irreps_up_to(2, odd), odd_products=odd), rep.dim)
    instructions = couplings(p2, a, irreps_up_to(2, odd), odd_products=odd)
    out_layout = output_layout(p2, a, instructions, rep.dim)
    product = ChannelwiseProduct(p2, a, instructions, out_layout, rep).to(dtype)
    x, y = random_features(p2, rep, (5, 3), dtype=dtype), random_features(a, rep, (5, 3), seed=1, dtype=dtype)
    assert product(x, y).shape == (5, 3, out_layout.dim)
    assert_equivariant(
        product, [x, y], [layout_action(p2, rep), layout_action(a, rep)], [layout_action(out_layout, rep)],
        random_orthogonal(1, improper),
    )  # fmt: skip


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
def test_edge_tensor_product_is_equivariant(rep_name, odd, improper, dtype):
    rep = get_representation(rep_name)
    h = plain_layout(irreps_up_to(2, odd), rep.dim)
    y = plain_layout(irreps_up_to(3), rep.dim)
    instructions = couplings(h, y, irreps_up_to(3, odd), odd_products=odd)
    out_layout = output_layout(h, y, instructions, rep.dim)
    tp = EdgeTensorProduct(h, y, instructions, out_layout, rep).to(dtype)
    hx, yx = random_features(h, rep, (5, 4), dtype=dtype), random_features(y, rep, (7,), seed=3, dtype=dtype)
    weights = torch.randn(7, 4, tp.num_paths, dtype=torch.float64).to(dtype)
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 4], [1, 0, 2, 1, 4, 3, 3]])
    assert tp(hx, yx, weights, edge_index, 5).shape == (5, 4, out_layout.dim)
    assert_equivariant(
        tp, [hx, yx, weights, edge_index, 5], [layout_action(h, rep), layout_action(y, rep), None, None, None],
        [layout_action(out_layout, rep)], random_orthogonal(2, improper),
    )  # fmt: skip
