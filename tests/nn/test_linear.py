"""Equivariant linear maps: equivariant, zero for missing irreps, per-species weights where asked."""

import pytest
import torch

from ictp.nn.linear import IrrepLinear
from ictp.tensors.irreps import Layout, irreps_up_to, plain_layout
from ictp.tensors.representation import get_representation
from ictp.testing import assert_equivariant, layout_action, random_features, random_orthogonal

CASES = [(rep, odd, improper) for rep in ("compressed", "dense") for odd in (False, True) for improper in (False, True)]


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
def test_linear_layers_are_equivariant(rep_name, odd, improper, dtype):
    rep, rotation = get_representation(rep_name), random_orthogonal(3, improper)
    irreps = irreps_up_to(2, odd)
    layout = Layout([(ir, k + 1) for k, ir in enumerate(irreps)], rep.dim)
    linear = IrrepLinear(layout, irreps_up_to(3, odd), 3, 5, rep.dim).to(dtype)
    out_layout = plain_layout(irreps_up_to(3, odd), rep.dim)
    x = random_features(layout, rep, (6, 3), dtype=dtype)
    assert linear(x)[..., -rep.dim(3) :].abs().max() == 0  # no rank-3 input, so no rank-3 output
    assert_equivariant(linear, [x], [layout_action(layout, rep)], [layout_action(out_layout, rep)], rotation)
    plain = plain_layout(irreps, rep.dim)
    species = torch.tensor([0, 1, 2, 1, 0, 2])
    skip = IrrepLinear(plain, irreps, 3, 4, rep.dim, num_species=3).to(dtype)
    xs = random_features(plain, rep, (6, 3), dtype=dtype)
    assert_equivariant(skip, [xs, species], [layout_action(plain, rep), None], [layout_action(plain, rep)], rotation)


def test_species_linear_uses_each_atoms_own_weights():
    rep = get_representation("compressed")
    plain = plain_layout(irreps_up_to(1), rep.dim)
    skip = IrrepLinear(plain, irreps_up_to(1), 2, 2, rep.dim, num_species=3)
    x = torch.randn(2, 2, plain.dim, dtype=torch.float64)
    both = skip(x, torch.tensor([0, 2]))
    torch.testing.assert_close(both[1:], skip(x[1:], torch.tensor([2])))
    assert not torch.allclose(both[1:], skip(x[1:], torch.tensor([1])))
