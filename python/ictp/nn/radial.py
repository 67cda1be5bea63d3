"""Radial part of the edge features: Bessel basis, polynomial envelope, radial MLP."""

import math
from typing import List, Sequence

import torch
from torch import nn

__all__ = ["BesselBasis", "PolynomialEnvelope", "RadialEmbedding", "MLP"]

SILU_SCALE = 1.6765324703310907
"""1 / sqrt(E[silu(x)^2]) for x ~ N(0, 1): the activation is ``SILU_SCALE · silu(x)``, unit second moment."""


class BesselBasis(nn.Module):
    """``b_n(r) = sqrt(2/r_max) · sin(nπ r / r_max) / r``, n = 1..num_basis. ``[E] → [E, num_basis]`` (r in Å)."""

    def __init__(self, r_max: float, num_basis: int):
        super().__init__()
        self.r_max, self.num_basis = r_max, num_basis
        self.register_buffer("frequencies", math.pi / r_max * torch.arange(1, num_basis + 1, dtype=torch.float64))
        self.prefactor = math.sqrt(2.0 / r_max)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.frequencies * r) / r

    def extra_repr(self) -> str:
        return f"r_max={self.r_max}, num_basis={self.num_basis}"


class PolynomialEnvelope(nn.Module):
    """Smooth cutoff ``f(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^{p+1} - p(p+1)/2 x^{p+2}``, x = r/r_max, 0 beyond.

    f and its first two derivatives vanish at r_max, so energies and forces are
    continuous when neighbours cross the cutoff.
    """

    def __init__(self, r_max: float, p: int):
        super().__init__()
        self.r_max, self.p = r_max, p

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = float(self.p)
        x = r / self.r_max
        f = (
            1.0
            - (p + 1.0) * (p + 2.0) / 2.0 * torch.pow(x, p)
            + p * (p + 2.0) * torch.pow(x, p + 1.0)
            - p * (p + 1.0) / 2.0 * torch.pow(x, p + 2.0)
        )
        return f * (x < 1.0).to(r.dtype)

    def extra_repr(self) -> str:
        return f"r_max={self.r_max}, p={self.p}"


class RadialEmbedding(nn.Module):
    """Edge lengths ``[E]`` (Å) → enveloped Bessel features ``[E, num_basis]``."""

    def __init__(self, r_max: float, num_basis: int, p: int):
        super().__init__()
        self.basis = BesselBasis(r_max, num_basis)
        self.envelope = PolynomialEnvelope(r_max, p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.basis(r) * self.envelope(r).unsqueeze(-1)


class MLP(nn.Module):
    """Bias-free MLP with scaled SiLU between layers; weights ``N(0,1)/sqrt(fan_in)``.

    No biases and ``silu(0) = 0`` mean a zero input gives a zero output: an edge
    at the cutoff (zero radial features) contributes nothing. ``[..., sizes[0]] → [..., sizes[-1]]``.
    The ``1/sqrt(fan_in)`` and the SiLU scale are applied to the (small) weight
    matrices rather than to the (large, per-edge) activations.
    """

    def __init__(self, sizes: Sequence[int]):
        super().__init__()
        self.sizes: List[int] = list(sizes)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(a, b, dtype=torch.float64)) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        )
        self.factors: List[float] = [
            (1.0 if k == 0 else SILU_SCALE) / math.sqrt(fan_in) for k, fan_in in enumerate(self.sizes[:-1])
        ]

    def forward(self, x: torch.Tensor, transpose_output: int = 0) -> torch.Tensor:
        """With ``transpose_output = a > 0``, the outputs read as ``[a, b]`` come back as ``[b, a]``
        (the last weight's columns are permuted: no copy of the large output)."""
        last = len(self.sizes) - 2  # index of the last weight
        for k, weight in enumerate(self.weights):
            if k > 0:
                x = torch.nn.functional.silu(x)
            weight = weight * self.factors[k]
            if k == last and transpose_output > 0:
                weight = weight.reshape(weight.shape[0], transpose_output, -1).transpose(1, 2).reshape(weight.shape[0], -1)
            x = x @ weight
        return x

    def extra_repr(self) -> str:
        return "sizes=" + "→".join(map(str, self.sizes))
