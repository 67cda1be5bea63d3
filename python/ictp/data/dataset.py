"""Training data as graphs with labels, neighbour lists built once per structure."""

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

from .. import keys
from .extxyz import Configuration, located
from .graph import atoms_to_graph, collate

__all__ = ["GraphDataset"]


def _labelled_graph(config: Configuration, atomic_numbers: Sequence[int], r_max: float, weight: float) -> Dict[str, np.ndarray]:
    with located(config):  # the checks of ictp.data.neighbors and unknown elements say which structure
        graph = atoms_to_graph(config.atoms, atomic_numbers, r_max)
    n = len(config.atoms)
    graph[keys.NUM_ATOMS] = np.array([n])
    graph[keys.REF_ENERGY] = np.array([config.energy if config.energy is not None else 0.0])
    graph[keys.REF_FORCES] = config.forces if config.forces is not None else np.zeros((n, 3))
    graph[keys.REF_STRESS] = (config.stress if config.stress is not None else np.zeros((3, 3)))[None]
    graph[keys.HAS_ENERGY] = np.array([config.energy is not None])
    graph[keys.HAS_FORCES] = np.array([config.forces is not None])
    graph[keys.HAS_STRESS] = np.array([config.stress is not None])
    graph[keys.WEIGHT] = np.array([float(weight)])
    return graph


class GraphDataset:
    """Labelled graphs of a list of configurations (neighbour lists computed here, once).

    ``dataset.batch(indices)`` collates the chosen structures into one batch of
    tensors (fields in :mod:`ictp.keys`), geometry and labels in float64. A structure
    that fails the checks of :mod:`ictp.data.neighbors` is a ValueError naming its file
    and index. ``config_type_weights`` (``{config_type: weight}``, 1 for types not named) are the
    structures' weights in the training loss.
    """

    def __init__(
        self,
        configurations: Sequence[Configuration],
        atomic_numbers: Sequence[int],
        r_max: float,
        config_type_weights: Optional[Mapping[str, float]] = None,
    ):
        self.configurations = list(configurations)
        weights = config_type_weights or {}
        self.graphs: List[Dict[str, np.ndarray]] = [
            _labelled_graph(c, atomic_numbers, r_max, weights.get(c.config_type, 1.0)) for c in self.configurations
        ]

    def __len__(self) -> int:
        return len(self.graphs)

    def edge_counts(self) -> List[np.ndarray]:
        """Per structure, the number of edges into each atom ``[N]`` (for n̄)."""
        return [np.bincount(g[keys.EDGE_INDEX][0], minlength=len(g[keys.SPECIES])) for g in self.graphs]

    def batch(self, indices: Sequence[int], device: torch.device = torch.device("cpu")) -> Dict[str, torch.Tensor]:
        return collate([self.graphs[k] for k in indices], device)
