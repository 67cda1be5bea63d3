"""Dense and compressed coordinates, coupling tables, odd constants and path counts."""

import itertools

import pytest
import torch

from ictp.tensors import cartesian as ct
from ictp.tensors.irreps import Irrep, irreps_up_to, plain_layout
from ictp.tensors.products import couplings, output_layout
from ictp.tensors.representation import REPRESENTATIONS, get_representation, odd_constant, stf_basis, stf_projector

F64 = torch.float64


@pytest.mark.parametrize("l", range(6))
def test_stf_basis_is_orthonormal_and_spans_the_stf_space(l):
    q = stf_basis(l)
    assert q.shape == (3**l, 2 * l + 1)
    torch.testing.assert_close(q.T @ q, torch.eye(2 * l + 1, dtype=F64), atol=1e-13, rtol=0)
    torch.testing.assert_close(q @ q.T, stf_projector(l), atol=1e-13, rtol=0)


@pytest.mark.parametrize("name", sorted(REPRESENTATIONS))
@pytest.mark.parametrize("l", range(5))
def test_harmonic_matrix_gives_the_coordinates_of_the_harmonic(name, l):
    rep = get_representation(name)
    n = torch.nn.functional.normalize(torch.randn(7, 3, dtype=F64), dim=-1)
    coords = ct.outer_power(n, l).reshape(7, -1) @ rep.harmonic_matrix(l)
    torch.testing.assert_close(coords @ rep.decoder(l), ct.harmonic(n, l).reshape(7, -1), atol=1e-13, rtol=0)


@pytest.mark.parametrize("name", sorted(REPRESENTATIONS))
def test_coupling_tables_reproduce_the_dense_products(name):
    rep = get_representation(name)
    for l1, l2 in itertools.product(range(4), repeat=2):
        for l3 in range(abs(l1 - l2), min(l1 + l2, 4) + 1):
            x, y = ct.detrace(torch.randn((3,) * l1, dtype=F64), l1), ct.detrace(torch.randn((3,) * l2, dtype=F64), l2)
            if (l1 + l2 - l3) % 2 == 0:
                dense = ct.even_product(x, y, l1, l2, l3)
            else:
                dense = odd_constant(l1, l2, l3) * ct.odd_product_unnormalized(x, y, l1, l2, l3)
            cx, cy = x.reshape(-1) @ rep.encoder(l1), y.reshape(-1) @ rep.encoder(l2)
            coords = torch.einsum("a,b,abc->c", cx, cy, rep.coupling(l1, l2, l3))
            torch.testing.assert_close(coords @ rep.decoder(l3), dense.reshape(-1), atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "triple,value",
    [((1, 1, 1), 0.707107), ((1, 2, 2), 0.816497), ((1, 3, 3), 0.866025), ((2, 2, 1), 0.632456), ((2, 2, 3), 1.0),
     ((2, 3, 2), 0.845154), ((3, 3, 1), 0.566947), ((3, 3, 3), 1.290994), ((2, 3, 4), 1.095445), ((4, 4, 1), 0.516398)],
)  # fmt: skip
def test_odd_constants_make_partial_isometries(triple, value):
    assert odd_constant(*triple) == pytest.approx(value, abs=1e-6)
    coupling = get_representation("compressed").coupling(*triple)  # [d1, d2, d3]
    m = coupling.reshape(-1, coupling.shape[2]).T
    torch.testing.assert_close(m @ m.T, torch.eye(coupling.shape[2], dtype=F64), atol=1e-12, rtol=0)


def test_unknown_representation_lists_the_choices():
    with pytest.raises(ValueError, match="compressed"):
        get_representation("spherical")


def dim(l):
    return 2 * l + 1


def product_basis_layout(l_max, correlation, symmetric, l_out):
    a = plain_layout(irreps_up_to(l_max), dim)
    p = a
    for order in range(2, correlation + 1):
        targets = irreps_up_to(l_max if order < correlation else l_out)
        instructions = couplings(p, a, targets, symmetric=symmetric and order == 2)
        p = output_layout(p, a, instructions, dim)
    return p.mults


@pytest.mark.parametrize(
    "l_max,symmetric,nu2,nu3,nu3_scalar,nu4_scalar",
    [(2, False, [3, 4, 4], [11, 15, 15], 11, 41), (2, True, [3, 2, 3], [8, 10, 11], 8, 29),
     (3, False, [4, 6, 7, 6], [23, 36, 42, 36], 23, 137), (3, True, [4, 3, 5, 3], [15, 23, 26, 23], 15, 87),
     (1, False, [2, 2], [4, 4], 4, None), (1, True, [2, 1], [3, 3], 3, None)],
)  # fmt: skip
def test_product_basis_path_counts_match_the_paper(l_max, symmetric, nu2, nu3, nu3_scalar, nu4_scalar):
    assert product_basis_layout(l_max, 2, symmetric, l_max) == nu2
    assert product_basis_layout(l_max, 3, symmetric, l_max) == nu3
    assert product_basis_layout(l_max, 3, symmetric, 0) == [nu3_scalar]
    if nu4_scalar is not None:
        assert product_basis_layout(l_max, 4, symmetric, 0) == [nu4_scalar]


@pytest.mark.parametrize(
    "l_h,row",
    [(0, [[1, 1], [1, 1, 1], [1, 1, 1, 1]]), (1, [[2, 2], [2, 3, 2], [2, 3, 3, 2]]),
     (2, [[2, 3], [3, 4, 4], [3, 5, 5, 4]]), (3, [[2, 3], [3, 5, 5], [4, 6, 7, 6]])],
)  # fmt: skip
def test_edge_convolution_path_counts_match_the_paper(l_h, row):
    h = plain_layout(irreps_up_to(l_h), dim)
    for l_e, expected in zip((1, 2, 3), row):
        y = plain_layout(irreps_up_to(l_e), dim)
        assert output_layout(h, y, couplings(h, y, irreps_up_to(l_e)), dim).mults == expected


def test_odd_products_label_pseudo_tensors():
    a = plain_layout(irreps_up_to(1), dim)
    layout = output_layout(a, a, couplings(a, a, irreps_up_to(1, both_parities=True), odd_products=True), dim)
    assert Irrep.parse("1e") in layout.irreps  # the cross product is a pseudo-vector
    assert Irrep.parse("0o") not in layout.irreps  # no pseudo-scalar from two true vectors
    sym = couplings(a, a, irreps_up_to(1, both_parities=True), odd_products=True, symmetric=True)
    assert all(c.irrep_out != Irrep.parse("1e") for c in sym)  # x × x = 0 is dropped


def test_irrep_parsing_and_errors():
    assert str(Irrep.parse("3o")) == "3o" and Irrep.parse("2e").is_natural
    with pytest.raises(ValueError, match="cannot parse"):
        Irrep.parse("2x")
