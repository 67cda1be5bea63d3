"""Structures → graphs → batches: the model's input (fields in :mod:`ictp.keys`)."""

from typing import Dict, List, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols

from .. import keys
from .neighbors import neighbor_list

__all__ = ["atoms_to_graph", "collate", "edge_vectors", "species_indices", "structures_to_batch"]


def species_indices(numbers: np.ndarray, model_numbers: Sequence[int]) -> np.ndarray:
    """Map atomic numbers to the model's species indices; unknown elements are an error that names them."""
    lookup = np.full(max(max(model_numbers), int(numbers.max(initial=0))) + 1, -1, dtype=np.int64)
    lookup[list(model_numbers)] = np.arange(len(model_numbers))
    index = lookup[numbers]
    if (index < 0).any():
        unknown = sorted({chemical_symbols[z] for z in numbers[index < 0]})
        known = [chemical_symbols[z] for z in model_numbers]
        raise ValueError(
            f"element(s) {unknown} not in the model's species {known}; "
            "use a model trained on these elements"
        )
    return index


def atoms_to_graph(atoms: Atoms, model_numbers: Sequence[int], r_max: float) -> Dict[str, np.ndarray]:
    """One structure as a graph of numpy arrays (float64 geometry, int64 indices).

    The neighbour list checks the geometry (:mod:`ictp.data.neighbors`): ValueError for NaN positions,
    coincident atoms or a density that means other units than Å.
    """
    receivers, senders, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, r_max)
    return {
        keys.SPECIES: species_indices(atoms.numbers, model_numbers),
        keys.POSITIONS: np.asarray(atoms.positions, dtype=np.float64),
        keys.EDGE_INDEX: np.stack([receivers, senders]),
        keys.SHIFTS: shifts,
        keys.CELL: np.asarray(atoms.cell.array, dtype=np.float64)[None],
        keys.PBC: np.asarray(atoms.pbc, dtype=bool)[None],
    }


def collate(graphs: List[Dict[str, np.ndarray]], device: torch.device = torch.device("cpu")) -> Dict[str, torch.Tensor]:
    """Concatenate graphs into one batch along their first axis; edge indices are offset by the atoms before them.

    Per-structure fields (cell, pbc, labels) have a leading axis of length 1 in each graph.
    """
    sizes = [len(g[keys.SPECIES]) for g in graphs]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    batch = {
        key: np.concatenate([g[key] for g in graphs], axis=0) for key in graphs[0] if key != keys.EDGE_INDEX
    }
    batch[keys.EDGE_INDEX] = np.concatenate([g[keys.EDGE_INDEX] + ptr[b] for b, g in enumerate(graphs)], axis=1)
    batch[keys.BATCH] = np.repeat(np.arange(len(graphs)), sizes)
    batch[keys.PTR] = ptr
    return {k: torch.as_tensor(v, device=device) for k, v in batch.items()}


def structures_to_batch(
    structures: Sequence[Atoms], model_numbers: Sequence[int], r_max: float, device: torch.device = torch.device("cpu")
) -> Dict[str, torch.Tensor]:
    """The graphs of ASE structures collated into one batch: :func:`atoms_to_graph`, then :func:`collate`.

    A structure that fails a check is a ValueError that starts with its index in ``structures``.
    """
    graphs = []
    for k, atoms in enumerate(structures):
        try:
            graphs.append(atoms_to_graph(atoms, model_numbers, r_max))
        except ValueError as error:
            raise ValueError(f"structure {k}: {error}") from None
    return collate(graphs, device)


def edge_vectors(batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    """``r_ij = r_i - r_j - shift`` in float64, ``[E, 3]`` (Å)."""
    receiver, sender = batch[keys.EDGE_INDEX][0], batch[keys.EDGE_INDEX][1]
    positions = batch[keys.POSITIONS]
    return positions.index_select(0, receiver) - positions.index_select(0, sender) - batch[keys.SHIFTS]
