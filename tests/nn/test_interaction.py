"""The interaction block is O(3)-equivariant: atomic basis A and skip connection."""

import pytest
import torch

from ictp.nn.interaction import InteractionBlock
from ictp.tensors.irreps import irreps_up_to, plain_layout
from ictp.tensors.representation import get_representation
from ictp.testing import assert_equivariant, layout_action, random_features, random_orthogonal

CASES = [(rep, odd, improper) for rep in ("compressed", "dense") for odd in (False, True) for improper in (False, True)]


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
def test_interaction_block_is_equivariant(rep_name, odd, improper, dtype):
    rep = get_representation(rep_name)
    irreps_h, irreps_a, irreps_y = irreps_up_to(2, odd), irreps_up_to(3, odd), irreps_up_to(3)
    block = InteractionBlock(irreps_h, irreps_y, irreps_a, irreps_h, 4, 3, 2, [8, 16], odd, rep).to(dtype)
    lh, la, ly = (plain_layout(ir, rep.dim) for ir in (irreps_h, irreps_a, irreps_y))
    n, e = 5, 12
    g = torch.Generator().manual_seed(0)
    h = random_features(lh, rep, (n, 4), dtype=dtype)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    y = random_features(ly, rep, (e,), seed=4, dtype=dtype)
    radial = torch.randn(e, 8, generator=g, dtype=torch.float64).to(dtype)
    species = torch.tensor([0, 1, 0, 1, 1])
    avg = torch.tensor(3.0, dtype=dtype)
    actions_in = [layout_action(lh, rep), None, layout_action(ly, rep), None, None, None, None]
    actions_out = [layout_action(la, rep), layout_action(lh, rep)]
    assert_equivariant(block, [h, species, y, radial, edge_index, avg, n], actions_in, actions_out, random_orthogonal(5, improper))
