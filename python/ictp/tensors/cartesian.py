"""Dense Cartesian tensors: the reference implementation of the ICTP algebra.

A rank-l Cartesian tensor is stored densely with l trailing axes of size 3,
``[..., 3, ..., 3]``; all leading axes are batch axes and broadcast. The
functions here are written for clarity, not speed: they build the coupling
tables of :mod:`ictp.tensors.representation` once, at model construction, and
they are the reference the tests compare against. The formulas are re-derived
from Zaverkin et al., arXiv:2405.14253 (Sec. 3, Eqs. (2)-(3)); see
``docs/conventions.md``.
"""

import itertools
import math

import torch

__all__ = [
    "double_factorial",
    "outer_power",
    "symmetrize",
    "trace",
    "detrace",
    "harmonic",
    "even_constant",
    "even_product",
    "odd_product_unnormalized",
    "levi_civita",
]


def double_factorial(n: int) -> int:
    """``n!!`` with the convention ``(-1)!! = 0!! = 1``."""
    return math.prod(range(n, 0, -2)) if n > 0 else 1


def _num_placements(l: int, m: int) -> int:
    """Number of distinct ways to place ``m`` Kronecker deltas among ``l`` indices."""
    return math.factorial(l) // (2**m * math.factorial(m) * math.factorial(l - 2 * m))


def outer_power(n: torch.Tensor, l: int) -> torch.Tensor:
    """``n^{⊗l}``: ``[..., 3]`` → ``[..., 3, ..., 3]`` (l axes); ``l = 0`` gives ones ``[...]``."""
    out = torch.ones(n.shape[:-1], dtype=n.dtype, device=n.device)
    for k in range(l):
        out = out.unsqueeze(-1) * n.reshape(n.shape[:-1] + (1,) * k + (3,))
    return out


def symmetrize(t: torch.Tensor, l: int) -> torch.Tensor:
    """Average of ``t`` over all permutations of its last ``l`` axes."""
    if l < 2:
        return t
    batch = list(range(t.dim() - l))
    perms = itertools.permutations(range(t.dim() - l, t.dim()))
    return sum(t.permute(batch + list(p)) for p in perms) / math.factorial(l)


def trace(t: torch.Tensor, l: int) -> torch.Tensor:
    """Contract the first two of the last ``l`` axes: rank l → rank l-2."""
    return torch.diagonal(t, dim1=t.dim() - l, dim2=t.dim() - l + 1).sum(-1)


def _delta_power(m: int, like: torch.Tensor) -> torch.Tensor:
    """``δ^{⊗m}`` as a rank-2m tensor."""
    delta = torch.eye(3, dtype=like.dtype, device=like.device)
    out = torch.ones((), dtype=like.dtype, device=like.device)
    for _ in range(m):
        out = out[..., None, None] * delta
    return out


def detrace(t: torch.Tensor, l: int) -> torch.Tensor:
    """Orthogonal projection of a rank-l tensor onto the symmetric traceless tensors.

    ``P_l(T) = STF_l(Sym T)`` with
    ``STF_l(S) = Σ_m (-1)^m (2l-2m-1)!!/(2l-1)!! · #placements(l, m) · Sym[δ^{⊗m} ⊗ tr^m S]``.
    ``P_l`` is idempotent and self-adjoint in the Frobenius inner product.
    """
    s = symmetrize(t, l)
    out = torch.zeros_like(s)
    traced = s
    for m in range(l // 2 + 1):
        if m > 0:
            traced = trace(traced, l - 2 * m + 2)
        coeff = (
            (-1) ** m
            * double_factorial(2 * l - 2 * m - 1)
            / double_factorial(2 * l - 1)
            * _num_placements(l, m)
        )
        delta = _delta_power(m, s)
        # δ^{⊗m} ⊗ tr^m(S): delta axes first, then the remaining l-2m axes of the trace.
        term = delta.reshape((1,) * (s.dim() - l) + delta.shape + (1,) * (l - 2 * m))
        term = term * traced.reshape(traced.shape[: s.dim() - l] + (1,) * (2 * m) + traced.shape[s.dim() - l :])
        out = out + coeff * symmetrize(term, l)
    return out


def harmonic(n: torch.Tensor, l: int) -> torch.Tensor:
    """Cartesian harmonic ``T^l(n̂) = (2l-1)!!/l! · P_l(n̂^{⊗l})`` of unit vectors ``n [..., 3]``.

    Normalised so that contracting ``T^l(n̂)`` l times with ``n̂`` gives 1; then
    ``‖T^l(n̂)‖² = (2l-1)!!/l!``.
    """
    c_l = double_factorial(2 * l - 1) / math.factorial(l)
    return c_l * detrace(outer_power(n, l), l)


def even_constant(l1: int, l2: int, l3: int) -> float:
    """``C_even``: makes ``(T^{l1}(n̂) ⊗ T^{l2}(n̂))^{(l3)} = T^{l3}(n̂)`` for every even triple."""
    k = (l1 + l2 - l3) // 2
    num = math.factorial(l1) * math.factorial(l2) * double_factorial(2 * l3 - 1)
    den = (
        double_factorial(2 * (l1 - k) - 1)
        * double_factorial(2 * (l2 - k) - 1)
        * double_factorial(2 * k - 1)
        * math.factorial(l3 + k)
    )
    return num / den


def _contract(x: torch.Tensor, y: torch.Tensor, l1: int, l2: int, k: int) -> torch.Tensor:
    """Contract the last ``k`` axes of ``x`` (rank l1) with the first ``k`` axes of ``y`` (rank l2)."""
    bx, by = x.shape[: x.dim() - l1], y.shape[: y.dim() - l2]
    xm = x.reshape(bx + (3 ** (l1 - k), 3**k))
    ym = y.reshape(by + (3**k, 3 ** (l2 - k)))
    out = xm @ ym
    return out.reshape(out.shape[:-2] + (3,) * (l1 + l2 - 2 * k))


def even_product(x: torch.Tensor, y: torch.Tensor, l1: int, l2: int, l3: int) -> torch.Tensor:
    """Even irreducible product ``(x ⊗ y)^{(l3)} = C_even · P_{l3}[x ·^k y]``, ``k = (l1+l2-l3)/2``."""
    if (l1 + l2 - l3) % 2 or not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(f"({l1}, {l2}, {l3}) is not an even coupling")
    k = (l1 + l2 - l3) // 2
    return even_constant(l1, l2, l3) * detrace(_contract(x, y, l1, l2, k), l3)


def levi_civita(dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The Levi-Civita symbol ``ε_{ipq}``, ``[3, 3, 3]``."""
    eps = torch.zeros(3, 3, 3, dtype=dtype, device=device)
    for i, p, q in itertools.permutations(range(3)):
        eps[i, p, q] = torch.linalg.det(torch.eye(3, dtype=torch.float64)[[i, p, q]]).item()
    return eps


def odd_product_unnormalized(x: torch.Tensor, y: torch.Tensor, l1: int, l2: int, l3: int) -> torch.Tensor:
    """Odd product before normalisation: ``P_{l3}[ε_{ipq} x_{a…p c…} y_{c… q b…}]``.

    ``k = (l1+l2-l3-1)/2`` index pairs are contracted, then one free index of
    ``x`` and one of ``y`` are joined through the Levi-Civita symbol, which
    creates the new leading index ``i``. The result is a pseudo-tensor relative
    to the inputs' parities. (1, 1, 1) is the cross product.
    """
    if (l1 + l2 - l3) % 2 == 0 or not abs(l1 - l2) <= l3 <= l1 + l2 - 1:
        raise ValueError(f"({l1}, {l2}, {l3}) is not an odd coupling")
    k = (l1 + l2 - l3 - 1) // 2
    b = _contract(x, y, l1, l2, k)  # [..., a(l1-k-1), p, q, b(l2-k-1)]
    batch = b.dim() - (l1 + l2 - 2 * k)
    p_axis = batch + l1 - k - 1
    eps = levi_civita(b.dtype, b.device)
    b = torch.movedim(b, (p_axis, p_axis + 1), (-2, -1))  # [..., a, b, p, q]
    out = (b.unsqueeze(-3) * eps.reshape((1,) * (b.dim() - 2) + (3, 3, 3))).sum((-2, -1))  # [..., a, b, i]
    out = torch.movedim(out, -1, batch)  # [..., i, a, b]
    return detrace(out, l3)
