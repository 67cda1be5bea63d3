"""ASE calculator: deployed files, training model files and ICTP objects through the one deployment contract."""

import copy
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from ase.calculators.calculator import CalculationFailed, Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from . import keys
from .data.graph import atoms_to_graph, collate, edge_vectors
from .data.neighbors import check_distances, check_positions
from .devices import resolve_device
from .deploy.export import load_deployed, run
from .deploy.module import DeployedModel
from .model import ICTP, load_model, stress_from_virial
from .native import NativeBuildError

__all__ = ["ICTPCalculator"]


def _load(model, device: torch.device):
    """``(module following the contract, model atomic numbers, r_max)`` for a ``.pt2``/``.pth``, a ``.pt`` or an ICTP.

    A model object is copied (the caller's keeps its kernels) and runs with the fused CPU kernels
    when they can be compiled here, else with the reference ones (a warning says why).
    """
    if isinstance(model, (str, os.PathLike)) and Path(model).suffix == ".pt":
        model = load_model(model, device)
    elif isinstance(model, ICTP):
        model = copy.deepcopy(model).to(device)
    if isinstance(model, ICTP):
        if device.type == "cpu":
            try:
                model.set_kernels("fused")
            except NativeBuildError as error:
                warnings.warn(f"ictp: running without the fused CPU kernels (several times slower): {error}")
        return DeployedModel(model), model.atomic_numbers.tolist(), model.r_max
    module, metadata = load_deployed(model, device)
    return module, metadata["atomic_numbers"], float(metadata["r_max"])


class ICTPCalculator(Calculator):
    """Energy, forces, stress and their per-atom parts from an ICTP model.

    Parameters
    ----------
    model : a deployed file (``ictp-deploy``: a compiled ``.pt2`` or a TorchScript ``.pth``;
        any suffix but ``.pt``), checked against its reference results on opening, a training
        model file (``.pt``, :func:`ictp.model.load_model`) or an :class:`ictp.ICTP` (copied,
        moved to ``device``; on the CPU the copy runs the fused kernels).
    device : where the model runs.
    skin : neighbour-list skin (Å). The list is built with cutoff ``r_max + skin`` and
        rebuilt only when an atom has moved more than ``skin / 2`` since, or the cell,
        pbc, numbers or number of atoms changed; results equal a fresh build exactly.

    Results: ``energy``/``free_energy`` (eV), ``energies`` [N] (eV), ``forces`` [N, 3]
    (eV/Å), and for cells periodic in all three directions ``stress`` [6] and, on
    request, ``stresses`` [N, 6] (eV/Å³, Voigt xx yy zz yz xz xy, ASE sign ``-W / V``).

    Every call checks the geometry (:mod:`ictp.data.neighbors`: ValueError for NaN positions
    or two atoms closer than ``MIN_DISTANCE``, naming them) and the results: a NaN or
    infinite result is a ``CalculationFailed``, never a result.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress", "stresses"]

    def __init__(
        self, model: Union[str, os.PathLike, ICTP], device: Union[str, torch.device] = "cpu", skin: float = 0.5, **kwargs
    ):
        super().__init__(**kwargs)
        if skin < 0:
            raise ValueError(f"skin must be >= 0 (Å), got {skin}")
        self.device = resolve_device(device)
        self.module, self.model_numbers, self.r_max = _load(model, self.device)
        self.skin = float(skin)
        self.neighbor_list_builds = 0
        self._neighbors = None  # the graph of the last build, tensors on the device
        self._built_for = None  # the atoms it was built for

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        periodic = bool(atoms.pbc.all())
        per_atom_stress = "stresses" in properties
        if not periodic and ("stress" in properties or per_atom_stress):
            raise PropertyNotImplementedError(
                "stress is only defined for cells periodic in all three directions; "
                f"these atoms have pbc={atoms.pbc.tolist()}"
            )
        species, edge_index, vectors = self._graph(atoms)
        out = run(self.module, species, edge_index, vectors, len(atoms), periodic, per_atom_stress)
        energy = float(out[keys.ENERGY])
        self.results = {"energy": energy, "free_energy": energy}
        self.results.update(energies=out[keys.ENERGIES].cpu().numpy(), forces=out[keys.FORCES].cpu().numpy())
        voigt = lambda stress: full_3x3_to_voigt_6_stress(stress.cpu().numpy())  # noqa: E731
        if periodic:
            volume = atoms.get_volume()
            self.results["stress"] = voigt(stress_from_virial(out[keys.VIRIAL], volume))
        if per_atom_stress:
            self.results["stresses"] = voigt(stress_from_virial(out[keys.ATOM_VIRIAL], volume))
        bad = [key for key, value in self.results.items() if not np.isfinite(value).all()]
        if bad:
            self.results = {}
            raise CalculationFailed(
                f"the model returned NaN or infinite {', '.join(bad)} for these {len(atoms)} atoms; "
                "the model file may be broken (NaN weights)"
            )

    def _graph(self, atoms):
        """Species [N], edge index [2, E] and float64 edge vectors [E, 3] (Å) of the edges shorter than r_max.

        The positions are checked at every call (NaN ones would never trigger a rebuild), the distances on
        the edges the list already has.
        """
        check_positions(atoms.positions, atoms.cell.array, atoms.pbc)
        if self._must_rebuild(atoms):
            self._build(atoms)
        graph = {**self._neighbors, keys.POSITIONS: torch.as_tensor(atoms.positions, device=self.device)}
        vectors = edge_vectors(graph)
        lengths = torch.linalg.vector_norm(vectors, dim=1)
        check_distances(graph[keys.EDGE_INDEX], lengths)
        keep = lengths < self.r_max
        return graph[keys.SPECIES], graph[keys.EDGE_INDEX][:, keep], vectors[keep]

    def _must_rebuild(self, atoms) -> bool:
        built = self._built_for
        return (
            built is None
            or not np.array_equal(built.numbers, atoms.numbers)
            or not np.array_equal(built.pbc, atoms.pbc)
            or not np.array_equal(built.cell.array, atoms.cell.array)
            or np.linalg.norm(atoms.positions - built.positions, axis=1).max(initial=0.0) > self.skin / 2
        )

    def _build(self, atoms):
        """The graph (:func:`ictp.data.graph.atoms_to_graph`) with cutoff r_max + skin, edges sorted so that any
        reuse gives a fresh build's order."""
        graph = atoms_to_graph(atoms, self.model_numbers, self.r_max + self.skin)
        receivers, senders = graph[keys.EDGE_INDEX]
        shifts = graph[keys.SHIFTS]
        order = np.lexsort((shifts[:, 2], shifts[:, 1], shifts[:, 0], senders, receivers))
        graph[keys.EDGE_INDEX], graph[keys.SHIFTS] = graph[keys.EDGE_INDEX][:, order], shifts[order]
        self._neighbors = collate([graph], self.device)
        self._built_for = atoms.copy()
        self.neighbor_list_builds += 1
