"""Dense Cartesian algebra: harmonics, the detracer and the even/odd products."""

import itertools
import math

import pytest
import torch

from ictp.tensors import cartesian as ct
from ictp.testing import assert_equivariant, cartesian_action, random_orthogonal

F64 = torch.float64


def unit_vectors(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=F64), dim=-1)


def random_stf(l, n=4, seed=1):
    g = torch.Generator().manual_seed(seed + 17 * l)
    return ct.detrace(torch.randn((n,) + (3,) * l, generator=g, dtype=F64), l)


def assert_symmetric_traceless(t, l):
    for perm in itertools.permutations(range(t.dim() - l, t.dim())):
        assert torch.allclose(t.permute(list(range(t.dim() - l)) + list(perm)), t, atol=1e-12)
    if l >= 2:
        assert ct.trace(t, l).abs().max() < 1e-12


@pytest.mark.parametrize("l", range(6))
def test_harmonic_is_symmetric_traceless_and_normalised(l):
    n = unit_vectors()
    t = ct.harmonic(n, l)
    assert t.shape == (6,) + (3,) * l
    assert_symmetric_traceless(t, l)
    contracted = t
    for _ in range(l):
        contracted = (contracted * n.reshape((6,) + (1,) * (contracted.dim() - 2) + (3,))).sum(-1)
    torch.testing.assert_close(contracted, torch.ones(6, dtype=F64), atol=1e-13, rtol=0)
    norm2 = t.reshape(6, -1).pow(2).sum(1)
    torch.testing.assert_close(norm2, torch.full((6,), ct.double_factorial(2 * l - 1) / math.factorial(l), dtype=F64))


def test_low_rank_harmonics_match_closed_forms():
    n = unit_vectors()
    eye = torch.eye(3, dtype=F64)
    t2 = 1.5 * (n[:, :, None] * n[:, None, :] - eye / 3)
    torch.testing.assert_close(ct.harmonic(n, 2), t2)
    nnn = n[:, :, None, None] * n[:, None, :, None] * n[:, None, None, :]
    trace_terms = n[:, :, None, None] * eye[None, None] + n[:, None, :, None] * eye[None, :, None] + n[:, None, None, :] * eye[None, :, :, None]
    torch.testing.assert_close(ct.harmonic(n, 3), 2.5 * (nnn - trace_terms / 5))


@pytest.mark.parametrize("l", range(6))
def test_detrace_is_an_orthogonal_projector(l):
    g = torch.Generator().manual_seed(l)
    a = torch.randn((3,) * l, generator=g, dtype=F64)
    b = torch.randn((3,) * l, generator=g, dtype=F64)
    pa, pb = ct.detrace(a, l), ct.detrace(b, l)
    assert_symmetric_traceless(pa.unsqueeze(0), l)
    torch.testing.assert_close(ct.detrace(pa, l), pa, atol=1e-12, rtol=0)  # idempotent
    torch.testing.assert_close((pa * b).sum(), (a * pb).sum())  # self-adjoint


def even_triples(l_max):
    for l1, l2 in itertools.product(range(l_max + 1), repeat=2):
        for l3 in range(abs(l1 - l2), l1 + l2 + 1, 2):
            yield l1, l2, l3


def odd_triples(l_max):
    for l1, l2 in itertools.product(range(1, l_max + 1), repeat=2):
        for l3 in range(abs(l1 - l2) + 1, l1 + l2, 2):
            yield l1, l2, l3


@pytest.mark.parametrize("l1,l2,l3", list(even_triples(3)) + [(2, 2, 4), (4, 2, 4), (4, 1, 5)])
def test_even_product_of_harmonics_gives_the_harmonic(l1, l2, l3):
    n = unit_vectors()
    product = ct.even_product(ct.harmonic(n, l1), ct.harmonic(n, l2), l1, l2, l3)
    torch.testing.assert_close(product, ct.harmonic(n, l3), atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "triple,value",
    [((1, 1, 0), 1), ((1, 1, 2), 1.5), ((2, 1, 3), 5 / 3), ((2, 2, 0), 2 / 3), ((2, 2, 2), 2), ((3, 2, 1), 2 / 3),
     ((3, 2, 3), 2.5), ((3, 3, 0), 0.4), ((3, 3, 2), 1.5), ((3, 1, 2), 1)],
)  # fmt: skip
def test_even_constants_match_the_table(triple, value):
    assert ct.even_constant(*triple) == pytest.approx(value, rel=1e-14)


@pytest.mark.parametrize("odd", [False, True])
@pytest.mark.parametrize("improper", [False, True])
def test_products_are_equivariant(odd, improper):
    rotation = random_orthogonal(3, improper)
    triples = list(odd_triples(3)) if odd else list(even_triples(3))
    for l1, l2, l3 in triples:
        x, y = random_stf(l1, seed=2), random_stf(l2, seed=5)
        if odd:
            product = lambda a, b: ct.odd_product_unnormalized(a, b, l1, l2, l3)
        else:
            product = lambda a, b: ct.even_product(a, b, l1, l2, l3)
        assert_symmetric_traceless(product(x, y), l3)
        # An odd product of true tensors is a pseudo-tensor: an extra det(R).
        actions_in = [cartesian_action(l1), cartesian_action(l2)]
        assert_equivariant(product, [x, y], actions_in, [cartesian_action(l3, pseudo=odd)], rotation)


def test_odd_product_of_vectors_is_the_cross_product():
    x, y = torch.randn(5, 3, dtype=F64), torch.randn(5, 3, dtype=F64)
    torch.testing.assert_close(ct.odd_product_unnormalized(x, y, 1, 1, 1), torch.linalg.cross(x, y))


def test_invalid_couplings_are_rejected():
    x = torch.zeros(3, 3, dtype=F64)
    with pytest.raises(ValueError, match="not an even coupling"):
        ct.even_product(x, x, 2, 2, 3)
    with pytest.raises(ValueError, match="not an odd coupling"):
        ct.odd_product_unnormalized(x, x, 2, 2, 2)
