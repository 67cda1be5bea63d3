"""Radial features: the Bessel basis, the envelope's smooth cutoff and the bias-free MLP."""

import math

import pytest
import torch

from ictp.nn.radial import MLP, SILU_SCALE, BesselBasis, PolynomialEnvelope, RadialEmbedding

F64 = torch.float64


def test_bessel_basis_matches_its_formula():
    r = torch.linspace(0.1, 5.0, 11, dtype=F64)
    basis = BesselBasis(5.0, 4)
    n = torch.arange(1, 5, dtype=F64)
    expected = math.sqrt(2 / 5.0) * torch.sin(n * math.pi * r[:, None] / 5.0) / r[:, None]
    torch.testing.assert_close(basis(r), expected, atol=1e-14, rtol=0)
    assert repr(basis) == "BesselBasis(r_max=5.0, num_basis=4)"


def test_envelope_and_its_first_two_derivatives_vanish_at_the_cutoff():
    envelope = PolynomialEnvelope(3.0, 5)
    r = torch.tensor([3.0], dtype=F64, requires_grad=True)
    f = envelope(r - 1e-12)
    (df,) = torch.autograd.grad(f.sum(), r, create_graph=True)
    (d2f,) = torch.autograd.grad(df.sum(), r)
    assert abs(f.item()) < 1e-12 and abs(df.item()) < 1e-9 and abs(d2f.item()) < 1e-6
    outside = torch.tensor([0.0, 3.0, 4.5], dtype=F64)
    torch.testing.assert_close(envelope(outside), torch.tensor([1.0, 0.0, 0.0], dtype=F64))


def test_radial_embedding_is_the_enveloped_basis():
    r = torch.linspace(0.5, 4.0, 7, dtype=F64)
    embedding = RadialEmbedding(4.0, 8, 5)
    torch.testing.assert_close(embedding(r), embedding.basis(r) * embedding.envelope(r)[:, None])
    assert embedding(torch.tensor([4.0, 6.0], dtype=F64)).abs().max() == 0


def test_silu_scale_gives_unit_second_moment():
    x = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert (SILU_SCALE * torch.nn.functional.silu(x)).pow(2).mean() == pytest.approx(1.0, rel=0.02)


def test_mlp_maps_zero_to_zero_and_keeps_unit_scale():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        mlp = MLP([16, 256, 256, 4])
        x = torch.randn(4000, 16, dtype=F64)
    assert mlp(torch.zeros(3, 16, dtype=F64)).abs().max() == 0  # no biases: an edge at the cutoff adds nothing
    out = mlp(x)
    assert out.shape == (4000, 4) and 0.5 < out.pow(2).mean().sqrt() < 2.0
    assert mlp.extra_repr() == "sizes=16→256→256→4"
