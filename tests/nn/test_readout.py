"""Readouts: one energy per atom from the scalar channels only, hence invariant under O(3)."""

import pytest
import torch

from ictp.nn.readout import LinearReadout, MLPReadout
from ictp.tensors.irreps import irreps_up_to, plain_layout
from ictp.tensors.representation import get_representation
from ictp.testing import assert_equivariant, layout_action, random_features, random_orthogonal


@pytest.mark.parametrize("readout", [LinearReadout(4), MLPReadout(4, [8])], ids=["linear", "mlp"])
@pytest.mark.parametrize("improper", [False, True])
def test_readouts_are_invariant_and_read_only_the_scalars(readout, improper, dtype):
    rep = get_representation("compressed")
    layout = plain_layout(irreps_up_to(2, both_parities=True), rep.dim)
    h = random_features(layout, rep, (6, 4), dtype=dtype)
    readout = readout.to(dtype)
    assert readout(h).shape == (6,)
    assert_equivariant(readout, [h], [layout_action(layout, rep)], [None], random_orthogonal(6, improper))
    others = h.clone()
    others[:, :, 1:] = 0.0
    assert torch.equal(readout(others), readout(h))


def test_linear_readout_matches_its_formula():
    readout = LinearReadout(4)
    h = torch.randn(5, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(readout(h), h[:, :, 0] @ readout.weight / 2.0)
