"""Every layer is O(3)-equivariant, in both representations, with and without odd products."""

import pytest
import torch

from ictp.nn.interaction import InteractionBlock
from ictp.nn.linear import IrrepLinear
from ictp.nn.product_basis import ProductBasisBlock
from ictp.nn.tensor_product import ChannelwiseProduct, EdgeTensorProduct
from ictp.tensors.irreps import Layout, irreps_up_to, plain_layout
from ictp.tensors.products import couplings, output_layout
from ictp.tensors.representation import get_representation, stf_projector
from ictp.testing import random_orthogonal, rotate_layout

F64 = torch.float64
CASES = [(rep, odd, improper) for rep in ("compressed", "dense") for odd in (False, True) for improper in (False, True)]


def random_features(layout: Layout, rep, shape, seed=0):
    """Random valid coordinates (symmetric traceless in the dense representation)."""
    g = torch.Generator().manual_seed(seed)
    blocks = []
    for irrep, mult, d in zip(layout.irreps, layout.mults, layout.dims):
        coords = torch.randn(*shape, mult, d, generator=g, dtype=F64)
        project = rep.decoder(irrep.l) @ stf_projector(irrep.l) @ rep.encoder(irrep.l)
        blocks.append((coords @ project).reshape(*shape, mult * d))
    return torch.cat(blocks, -1)


def rotate(x, layout, rep, rotation):
    return rotate_layout(x, layout.irreps, layout.mults, rep, rotation)


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
def test_channelwise_product_is_equivariant(rep_name, odd, improper):
    rep, rotation = get_representation(rep_name), random_orthogonal(1, improper)
    a = plain_layout(irreps_up_to(2, odd), rep.dim)
    p2_instr = couplings(a, a, irreps_up_to(2, odd), odd_products=odd)
    p2 = output_layout(a, a, p2_instr, rep.dim)
    instr = couplings(p2, a, irreps_up_to(2, odd), odd_products=odd)
    out_layout = output_layout(p2, a, instr, rep.dim)
    product = ChannelwiseProduct(p2, a, instr, out_layout, rep)
    x, y = random_features(p2, rep, (5, 3)), random_features(a, rep, (5, 3), seed=1)
    out = product(x, y)
    assert out.shape == (5, 3, out_layout.dim)
    rotated = product(rotate(x, p2, rep, rotation), rotate(y, a, rep, rotation))
    torch.testing.assert_close(rotated, rotate(out, out_layout, rep, rotation), atol=1e-12, rtol=0)


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
def test_edge_tensor_product_is_equivariant(rep_name, odd, improper):
    rep, rotation = get_representation(rep_name), random_orthogonal(2, improper)
    h = plain_layout(irreps_up_to(2, odd), rep.dim)
    y = plain_layout(irreps_up_to(3), rep.dim)
    instr = couplings(h, y, irreps_up_to(3, odd), odd_products=odd)
    out_layout = output_layout(h, y, instr, rep.dim)
    tp = EdgeTensorProduct(h, y, instr, out_layout, rep)
    hx, yx = random_features(h, rep, (5, 4)), random_features(y, rep, (7,), seed=3)
    w = torch.randn(7, 4, tp.num_paths, dtype=F64)
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 4, 4], [1, 0, 2, 1, 4, 3, 3]])
    out = tp(hx, yx, w, edge_index)
    assert out.shape == (5, 4, out_layout.dim)
    rotated = tp(rotate(hx, h, rep, rotation), rotate(yx, y, rep, rotation), w, edge_index)
    torch.testing.assert_close(rotated, rotate(out, out_layout, rep, rotation), atol=1e-12, rtol=0)


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
def test_linear_layers_are_equivariant(rep_name, odd, improper):
    rep, rotation = get_representation(rep_name), random_orthogonal(3, improper)
    irreps = irreps_up_to(2, odd)
    layout = Layout([(ir, k + 1) for k, ir in enumerate(irreps)], rep.dim)
    linear = IrrepLinear(layout, irreps_up_to(3, odd), 3, 5, rep.dim)
    out_layout = plain_layout(irreps_up_to(3, odd), rep.dim)
    x = random_features(layout, rep, (6, 3))
    out = linear(x)
    assert out[..., -rep.dim(3):].abs().max() == 0  # no rank-3 input, so no rank-3 output
    torch.testing.assert_close(linear(rotate(x, layout, rep, rotation)), rotate(out, out_layout, rep, rotation), atol=1e-12, rtol=0)
    plain = plain_layout(irreps, rep.dim)
    species = torch.tensor([0, 1, 2, 1, 0, 2])
    skip = IrrepLinear(plain, irreps, 3, 4, rep.dim, num_species=3)
    xs = random_features(plain, rep, (6, 3))
    torch.testing.assert_close(skip(rotate(xs, plain, rep, rotation), species), rotate(skip(xs, species), plain, rep, rotation), atol=1e-12, rtol=0)


def test_species_linear_uses_each_atoms_own_weights():
    rep = get_representation("compressed")
    plain = plain_layout(irreps_up_to(1), rep.dim)
    skip = IrrepLinear(plain, irreps_up_to(1), 2, 2, rep.dim, num_species=3)
    x = torch.randn(2, 2, plain.dim, dtype=F64)
    both = skip(x, torch.tensor([0, 2]))
    torch.testing.assert_close(both[1:], skip(x[1:], torch.tensor([2])))
    assert not torch.allclose(both[1:], skip(x[1:], torch.tensor([1])))


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
@pytest.mark.parametrize("basis", [dict(symmetric=False, coupled=False), dict(symmetric=True, coupled=False), dict(symmetric=True, coupled=True)])
def test_product_basis_block_is_equivariant(rep_name, odd, improper, basis):
    rep, rotation = get_representation(rep_name), random_orthogonal(4, improper)
    irreps_a, irreps_out = irreps_up_to(2, odd), irreps_up_to(1, odd)
    block = ProductBasisBlock(irreps_a, irreps_out, 3, 4, 5, 2, odd_products=odd, rep=rep, **basis)
    la, lo = plain_layout(irreps_a, rep.dim), plain_layout(irreps_out, rep.dim)
    a, sc = random_features(la, rep, (6, 4)), random_features(lo, rep, (6, 5), seed=2)
    species = torch.tensor([0, 1, 1, 0, 1, 0])
    out = block(a, species, sc)
    rotated = block(rotate(a, la, rep, rotation), species, rotate(sc, lo, rep, rotation))
    torch.testing.assert_close(rotated, rotate(out, lo, rep, rotation), atol=1e-12, rtol=0)


@pytest.mark.parametrize("rep_name,odd,improper", CASES)
def test_interaction_block_is_equivariant(rep_name, odd, improper):
    rep, rotation = get_representation(rep_name), random_orthogonal(5, improper)
    irreps_h, irreps_a, irreps_y = irreps_up_to(2, odd), irreps_up_to(3, odd), irreps_up_to(3)
    block = InteractionBlock(irreps_h, irreps_y, irreps_a, irreps_h, 4, 3, 2, [8, 16], odd, rep)
    lh, la, ly = (plain_layout(ir, rep.dim) for ir in (irreps_h, irreps_a, irreps_y))
    n, e = 5, 12
    g = torch.Generator().manual_seed(0)
    h = random_features(lh, rep, (n, 4))
    edge_index = torch.randint(0, n, (2, e), generator=g)
    y = random_features(ly, rep, (e,), seed=4)
    radial = torch.randn(e, 8, generator=g, dtype=F64)
    species = torch.tensor([0, 1, 0, 1, 1])
    avg = torch.tensor(3.0, dtype=F64)
    a, sc = block(h, species, y, radial, edge_index, avg)
    a_rot, sc_rot = block(rotate(h, lh, rep, rotation), species, rotate(y, ly, rep, rotation), radial, edge_index, avg)
    torch.testing.assert_close(a_rot, rotate(a, la, rep, rotation), atol=1e-12, rtol=0)
    torch.testing.assert_close(sc_rot, rotate(sc, lh, rep, rotation), atol=1e-12, rtol=0)
