"""Neighbour lists (vesin): full, directed, periodic images included, no self-edges."""

import numpy as np
import vesin

__all__ = ["neighbor_list"]


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
    """All directed pairs (i, j, image) closer than ``r_max``.

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
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    cell = np.asarray(cell, dtype=np.float64)
    box = _box_for_periodic_axes(cell, pbc) if pbc.any() else np.zeros((3, 3))
    calculator = vesin.NeighborList(cutoff=float(r_max), full_list=True)
    i, j, s = calculator.compute(points=positions, box=box, periodic=[bool(p) for p in pbc], quantities="ijS")
    shifts = s.astype(np.float64) @ cell
    # r_i - r_j - shift must equal -(r_j + S·cell - r_i): vesin's vector points from i to j's image.
    keep = (i != j) | np.any(s != 0, axis=1)
    return i[keep].astype(np.int64), j[keep].astype(np.int64), shifts[keep]
