"""Neighbour lists (vesin): full, directed, periodic images included, no self-edges.

The geometric checks every structure passes on its way to a model live here too,
so that training data, ``ictp-eval``, the ASE calculator and the exporter share
them: finite positions, no two atoms closer than :data:`MIN_DISTANCE`, and no
more atoms per volume than :data:`MAX_NUMBER_DENSITY` (a structure in nm or
Bohr read as Å fails this one).
"""

import math

import numpy as np
import vesin

__all__ = [
    "MAX_NUMBER_DENSITY", "MIN_DISTANCE", "check_distances", "check_neighbor_counts", "check_positions",
    "max_neighbors", "neighbor_list",
]  # fmt: skip

MIN_DISTANCE = 0.1
"""Å. Two atoms closer than this are the same atom twice (a duplicate, or a simulation that blew up);
the closest real pairs are about 0.5 Å (H2 at 0.74 Å), and the model's radial basis diverges at 0."""

MAX_NUMBER_DENSITY = 1.0
"""Atoms per Å³ that no physical structure reaches: diamond, the densest solid at ambient pressure, has
0.18. A cell or a neighbourhood denser than this is almost always given in other units than Å."""

_UNITS_HINT = "are the positions and the cell in Å (not nm or Bohr)?"


def max_neighbors(r_max: float) -> int:
    """The most neighbours an atom may have within ``r_max`` (Å): :data:`MAX_NUMBER_DENSITY` times the sphere."""
    return max(1, int(MAX_NUMBER_DENSITY * 4.0 / 3.0 * math.pi * r_max**3))


def check_positions(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray):
    """ValueError for NaN or infinite positions ``[N, 3]`` or cell ``[3, 3]`` (Å), or a periodic cell denser
    than :data:`MAX_NUMBER_DENSITY` (checked before a neighbour list of that size is built)."""
    if not np.isfinite(positions).all():
        atom = int(np.argmin(np.isfinite(positions).all(axis=1)))
        raise ValueError(f"atom {atom} has a NaN or infinite position {positions[atom].tolist()}; fix the structure")
    if not np.isfinite(cell).all():
        raise ValueError(f"the cell {cell.tolist()} has NaN or infinite entries; fix the structure")
    if np.all(pbc):
        volume = abs(float(np.linalg.det(cell)))
        if volume > 0 and len(positions) / volume > MAX_NUMBER_DENSITY:
            raise ValueError(
                f"{len(positions)} atoms in a periodic cell of {volume:.4g} Å³ is {len(positions) / volume:.3g} "
                f"atoms/Å³, more than any physical structure ({MAX_NUMBER_DENSITY:g}); {_UNITS_HINT}"
            )


def check_distances(edge_index, lengths):
    """ValueError naming the two atoms if an edge is shorter than :data:`MIN_DISTANCE`.

    ``edge_index`` ``[2, E]`` (receiver, sender) and ``lengths`` ``[E]`` (Å), numpy or torch
    (on any device: one ``argmin``, one number read back).
    """
    if len(lengths) == 0:
        return
    closest = int(lengths.argmin())
    if float(lengths[closest]) < MIN_DISTANCE:
        i, j = sorted((int(edge_index[0][closest]), int(edge_index[1][closest])))
        if i == j:
            pair, fix = f"atom {i} and its periodic image", "a lattice vector is too short; check the cell"
        else:
            pair, fix = f"atoms {i} and {j}", "two atoms at the same place; remove the duplicate atom"
        raise ValueError(
            f"{pair} are {float(lengths[closest]):.3g} Å apart, closer than {MIN_DISTANCE} Å "
            f"(ictp.data.neighbors.MIN_DISTANCE): {fix}"
        )


def check_neighbor_counts(receivers: np.ndarray, num_atoms: int, r_max: float):
    """ValueError if an atom has more neighbours within ``r_max`` (Å) than :func:`max_neighbors` allows."""
    counts = np.bincount(receivers, minlength=num_atoms)
    if len(counts) and counts.max() > max_neighbors(r_max):
        atom = int(counts.argmax())
        raise ValueError(
            f"atom {atom} has {counts[atom]} neighbours within r_max = {r_max:g} Å, more than any physical "
            f"structure ({max_neighbors(r_max)} at {MAX_NUMBER_DENSITY:g} atoms/Å³); {_UNITS_HINT}"
        )


def _box_for_periodic_axes(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """The cell, with zero vectors along non-periodic axes replaced by unit vectors orthogonal to the rest.

    Only periodic axes use their vector (slabs and wires often leave the others zero).
    """
    box = cell.copy()
    empty = [axis for axis in range(3) if not pbc[axis] and np.linalg.norm(box[axis]) < 1e-12]
    if empty:
        given = box[[axis for axis in range(3) if axis not in empty]]
        _, _, vt = np.linalg.svd(given if len(given) else np.zeros((1, 3)))
        box[empty] = vt[3 - len(empty) :]  # orthonormal complement of the given vectors
    if abs(np.linalg.det(box)) < 1e-12:
        raise ValueError(
            f"periodic structure with a degenerate cell {cell.tolist()} (Å): "
            "the lattice vectors of the periodic axes must be linearly independent"
        )
    return box


def neighbor_list(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, r_max: float):
    """All directed pairs (i, j, image) closer than ``r_max``, after the checks of this module.

    Parameters
    ----------
    positions : ``[N, 3]`` Å. cell : ``[3, 3]`` lattice vectors as rows (Å). pbc : ``[3]`` bool.

    Returns
    -------
    receivers, senders : ``[E]`` int64.
    shifts : ``[E, 3]`` float64, Cartesian shift of the sender image (Å), so that
        the edge vector is ``r_i - r_j - shift``. Both directions of every pair
        are present; periodic self-images (i = j, non-zero shift) are kept, the
        zero-length self-pair never appears.

    Raises ValueError for a bad ``r_max`` and for structures that fail :func:`check_positions`,
    :func:`check_distances` or :func:`check_neighbor_counts`.
    """
    if not (math.isfinite(r_max) and r_max > 0):
        raise ValueError(f"r_max must be a positive number of Å, got {r_max}")
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    cell = np.asarray(cell, dtype=np.float64)
    check_positions(positions, cell, pbc)
    box = _box_for_periodic_axes(cell, pbc) if pbc.any() else np.zeros((3, 3))
    calculator = vesin.NeighborList(cutoff=float(r_max), full_list=True)
    i, j, s, d = calculator.compute(points=positions, box=box, periodic=[bool(p) for p in pbc], quantities="ijSd")
    # r_i - r_j - shift must equal -(r_j + S·cell - r_i): vesin's vector points from i to j's image.
    keep = (i != j) | np.any(s != 0, axis=1)
    receivers, senders = i[keep].astype(np.int64), j[keep].astype(np.int64)
    check_distances((receivers, senders), d[keep])
    check_neighbor_counts(receivers, len(positions), r_max)
    return receivers, senders, s[keep].astype(np.float64) @ cell
