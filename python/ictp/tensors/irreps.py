"""Labels of irreducible Cartesian tensors and the block layout of feature tensors."""

from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple

__all__ = ["Irrep", "Layout", "irreps_up_to", "plain_layout"]


@dataclass(frozen=True)
class Irrep:
    """An irreducible O(3) representation: rank ``l`` and parity ``p`` (±1 under inversion).

    A symmetric traceless rank-l tensor built from position vectors has the
    natural parity ``p = (-1)^l`` ("true" tensor). Odd (Levi-Civita) products
    create pseudo-tensors with ``p = -(-1)^l``. Written like e3nn: ``"2e"``, ``"1o"``.
    """

    l: int
    p: int

    def __post_init__(self):
        if self.l < 0 or self.p not in (1, -1):
            raise ValueError(f"invalid irrep (l={self.l}, p={self.p}): need l >= 0 and p = +1 or -1")

    @classmethod
    def natural(cls, l: int) -> "Irrep":
        """The true (non-pseudo) rank-l tensor, parity ``(-1)^l``."""
        return cls(l, (-1) ** l)

    @classmethod
    def parse(cls, text: str) -> "Irrep":
        """``"2e"`` → ``Irrep(2, +1)``; ``"1o"`` → ``Irrep(1, -1)``."""
        text = text.strip()
        if len(text) < 2 or text[-1] not in "eo" or not text[:-1].isdigit():
            raise ValueError(f"cannot parse irrep {text!r}: expected a rank and a parity letter, e.g. '2e' or '1o'")
        return cls(int(text[:-1]), 1 if text[-1] == "e" else -1)

    @property
    def is_natural(self) -> bool:
        """True for a true tensor, False for a pseudo-tensor."""
        return self.p == (-1) ** self.l

    def sort_key(self) -> Tuple[int, int]:
        """Order by rank, true tensors before pseudo-tensors."""
        return (self.l, 0 if self.is_natural else 1)

    def __mul__(self, other: "Irrep") -> int:
        """Parity of any product of the two (the contraction pattern does not change it)."""
        return self.p * other.p

    def __str__(self) -> str:
        return f"{self.l}{'e' if self.p == 1 else 'o'}"

    __repr__ = __str__


def irreps_up_to(l_max: int, both_parities: bool = False) -> List[Irrep]:
    """Irreps of rank ``0..l_max``: the true tensors, or true and pseudo-tensors, sorted."""
    out = [Irrep.natural(l) for l in range(l_max + 1)]
    if both_parities:
        out += [Irrep(l, -((-1) ** l)) for l in range(l_max + 1)]
    return sorted(out, key=Irrep.sort_key)


class Layout:
    """How irreps are packed along the last axis of a feature tensor ``[..., num_channels, dim]``.

    A layout is a sequence of blocks ``(irrep, mult)``. Block k stores ``mult``
    coupling paths of one irrep, each with ``dims[k]`` components (``3^l`` for
    the dense representation, ``2l+1`` for the compressed one), path-major:
    ``[..., mult, dims[k]]`` flattened. Plain features have ``mult = 1`` for
    every block. Written like e3nn: ``"3x0e+4x1o"``.
    """

    def __init__(self, blocks: Iterable[Tuple[Irrep, int]], dim_of_rank):
        self.irreps: List[Irrep] = []
        self.mults: List[int] = []
        for irrep, mult in blocks:
            if mult > 0:
                self.irreps.append(irrep)
                self.mults.append(int(mult))
        if len(set(self.irreps)) != len(self.irreps):
            raise ValueError(f"a layout holds each irrep once, got {self.irreps}")
        self.dims: List[int] = [dim_of_rank(ir.l) for ir in self.irreps]
        self.sizes: List[int] = [m * d for m, d in zip(self.mults, self.dims)]
        self.offsets: List[int] = [sum(self.sizes[:k]) for k in range(len(self.sizes))]
        self.dim: int = sum(self.sizes)

    def index(self, irrep: Irrep) -> int:
        """Block index of ``irrep``; ``-1`` if absent."""
        return self.irreps.index(irrep) if irrep in self.irreps else -1

    def mult(self, irrep: Irrep) -> int:
        """Number of paths of ``irrep`` (0 if absent)."""
        k = self.index(irrep)
        return self.mults[k] if k >= 0 else 0

    def __str__(self) -> str:
        return "+".join(f"{m}x{ir}" for ir, m in zip(self.irreps, self.mults)) or "0"

    __repr__ = __str__


def plain_layout(irreps: Sequence[Irrep], dim_of_rank) -> Layout:
    """A layout with one path per irrep (features, edge harmonics)."""
    return Layout([(ir, 1) for ir in irreps], dim_of_rank)

