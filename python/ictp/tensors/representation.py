"""Coordinates in which the model stores irreducible Cartesian tensors.

Everything the model does to a rank-l tensor is either a linear map on its
channels (basis independent) or an equivariant bilinear coupling. So the model
only needs, per representation, (i) the coordinates of the Cartesian harmonics
and (ii) the coupling tensors ``C[a, b, c]`` of every product in those
coordinates. Two representations give the same model to rounding error:

* ``"dense"``: the full ``3^l`` array of the Cartesian tensor (as in the paper's
  code). Simple, and the reference in the tests.
* ``"compressed"``: ``2l+1`` coordinates ``q = Q_lᵀ vec(T)`` in a fixed
  Frobenius-orthonormal basis ``Q_l`` of the symmetric traceless tensors.
  Products become small dense coupling tensors; storage drops by ``3^l/(2l+1)``.

A faster representation (fused kernels, sparse couplings) plugs in here
without touching the model.
"""

import functools
import math
from typing import Callable, Dict

import torch

from . import cartesian

__all__ = ["Representation", "get_representation", "REPRESENTATIONS", "stf_projector", "stf_basis", "odd_constant"]

_F64 = torch.float64


@functools.lru_cache(maxsize=None)
def stf_projector(l: int) -> torch.Tensor:
    """Matrix of the projector ``P_l`` onto symmetric traceless rank-l tensors, ``[3^l, 3^l]``, float64."""
    eye = torch.eye(3**l, dtype=_F64).reshape((3**l,) + (3,) * l)
    return cartesian.detrace(eye, l).reshape(3**l, 3**l)


@functools.lru_cache(maxsize=None)
def stf_basis(l: int) -> torch.Tensor:
    """A fixed orthonormal basis ``Q_l`` of the symmetric traceless rank-l tensors, ``[3^l, 2l+1]``.

    Gram-Schmidt (QR with a positive diagonal) of the projected monomial tensors
    ``x^a y^b z^c`` with ``c <= 1``, which span the space (a harmonic polynomial
    is fixed by its terms of degree <= 1 in z). Deterministic across machines.
    """
    columns = []
    for c in (0, 1):
        for b in range(l - c + 1):
            a = l - c - b
            if a < 0:
                continue
            flat = 0
            for axis in [0] * a + [1] * b + [2] * c:
                flat = 3 * flat + axis
            columns.append(flat)
    q, r = torch.linalg.qr(stf_projector(l)[:, columns])
    q = q * torch.sign(torch.diagonal(r))
    if q.shape[1] != 2 * l + 1:
        raise RuntimeError(f"STF basis for l={l} has {q.shape[1]} columns, expected {2 * l + 1}")
    return q


def _unit_basis_tensors(basis: torch.Tensor, l: int) -> torch.Tensor:
    """Columns of ``basis [3^l, d]`` as rank-l tensors ``[d, 3, ..., 3]``."""
    return basis.T.reshape((basis.shape[1],) + (3,) * l)


@functools.lru_cache(maxsize=None)
def odd_constant(l1: int, l2: int, l3: int) -> float:
    """Normalisation of the odd product: the coupling is a partial isometry (like orthonormal CG).

    In orthonormal coordinates the unnormalised map ``M`` satisfies ``M Mᵀ = λ I``
    (Schur's lemma); the constant is ``λ^{-1/2}``. (1, 1, 1): ``1/√2``.
    """
    x = _unit_basis_tensors(stf_basis(l1), l1)[:, None]
    y = _unit_basis_tensors(stf_basis(l2), l2)[None, :]
    m = cartesian.odd_product_unnormalized(x, y, l1, l2, l3).reshape(-1, 3**l3) @ stf_basis(l3)
    return 1.0 / math.sqrt(float(m.pow(2).sum()) / (2 * l3 + 1))


def _product(x: torch.Tensor, y: torch.Tensor, l1: int, l2: int, l3: int) -> torch.Tensor:
    """The normalised ICTP product, even or odd by the parity of ``l1 + l2 - l3``."""
    if (l1 + l2 - l3) % 2 == 0:
        return cartesian.even_product(x, y, l1, l2, l3)
    return odd_constant(l1, l2, l3) * cartesian.odd_product_unnormalized(x, y, l1, l2, l3)


class Representation:
    """Coordinates of rank-l irreducible tensors: ``coords = vec(T) @ encoder(l)``, ``vec(T) = coords @ decoder(l)``."""

    def __init__(self, name: str, dim: Callable[[int], int], encoder: Callable[[int], torch.Tensor]):
        self.name = name
        self.dim = dim
        self._encoder = encoder

    def encoder(self, l: int) -> torch.Tensor:
        """``[3^l, dim(l)]``, float64."""
        return self._encoder(l)

    def decoder(self, l: int) -> torch.Tensor:
        """``[dim(l), 3^l]``, float64 (the encoder's transpose for both representations)."""
        return self._encoder(l).T

    def harmonic_matrix(self, l: int) -> torch.Tensor:
        """``H_l [3^l, dim(l)]`` with ``coords(T^l(n̂)) = vec(n̂^{⊗l}) @ H_l`` for unit vectors."""
        c_l = cartesian.double_factorial(2 * l - 1) / math.factorial(l)
        return c_l * stf_projector(l) @ self.encoder(l)

    @functools.lru_cache(maxsize=None)
    def coupling(self, l1: int, l2: int, l3: int) -> torch.Tensor:
        """Coupling tensor ``C [dim(l1), dim(l2), dim(l3)]`` of the normalised product, float64.

        ``coords((x ⊗ y)^{(l3)})_c = Σ_ab x_a y_b C[a, b, c]``.
        """
        x = _unit_basis_tensors(self.decoder(l1).T, l1)[:, None]
        y = _unit_basis_tensors(self.decoder(l2).T, l2)[None, :]
        out = _product(x, y, l1, l2, l3).reshape(x.shape[0], y.shape[1], 3**l3)
        return out @ self.encoder(l3)

    def __repr__(self) -> str:
        return f"Representation({self.name!r})"


def _dense_encoder(l: int) -> torch.Tensor:
    return torch.eye(3**l, dtype=_F64)


REPRESENTATIONS: Dict[str, Representation] = {
    "dense": Representation("dense", lambda l: 3**l, _dense_encoder),
    "compressed": Representation("compressed", lambda l: 2 * l + 1, stf_basis),
}


def get_representation(name: str) -> Representation:
    """Look up a representation by name; the error lists the choices."""
    if name not in REPRESENTATIONS:
        raise ValueError(f"unknown tensor representation {name!r}; choose one of {sorted(REPRESENTATIONS)}")
    return REPRESENTATIONS[name]
