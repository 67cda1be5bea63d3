"""Writing and reading deployed model files (``.pth``): TorchScript plus ``metadata.json``.

The file holds ``torch.jit.script(DeployedModel(model))`` (contract in
``docs/deployed_model.md``) and a TorchScript extra file ``metadata.json`` with
the species, cutoff, dtype, units, training statistics and reference results
that LAMMPS and :class:`ictp.ICTPCalculator` read.

The scripted module is not frozen (``torch.jit.freeze``): with torch 2.13 the
frozen module returned outputs that still require grad (the ``detach`` is
optimised away, keeping the autograd graph alive), differed from the unfrozen
one at rounding level (1.5e-7 eV/Å in float32) and was not faster on CPU.
"""

import copy
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np
import torch
from ase import Atoms

from .. import __version__, keys
from ..data.graph import edge_vectors, structures_to_batch
from ..devices import resolve_device
from ..files import atomic_write
from ..model import ICTP, predict, stress_from_virial
from ..model.config import DTYPES, dtype_name
from .module import DeployedModel

__all__ = [
    "FORMAT_VERSION", "METADATA_FILE", "DeployedFileError", "export", "load_deployed", "reference_structures", "run",
]  # fmt: skip

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
UNITS = {"energy": "eV", "length": "Angstrom"}
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
"""Largest accepted error of the written file against the float64 eager model, relative to the
largest reference value of each quantity (energy, forces, stress) or to 1 where that is smaller."""


class DeployedFileError(ValueError):
    """A file that is not a readable deployed model (corrupt, truncated, another format, too new)."""


def run(module, species, edge_index, vectors, num_local: int, compute_virial=False, compute_atom_virial=False):
    """Call a deployed module (scripted or eager) with the graph executor's optimisation off.

    Thread-local and restored on return; see docs/conventions.md for why it must be off.
    """
    with torch.jit.optimized_execution(False):
        return module(species, edge_index, vectors, num_local, compute_virial, compute_atom_virial)


def reference_structures(atomic_numbers: Sequence[int], r_max: float) -> List[Atoms]:
    """A molecule and a rattled triclinic periodic cell built from the model's species, deterministic.

    Atoms sit on a rattled cubic grid with spacing ``min(1.8, 0.6 r_max)`` Å, at least 8
    of them and one per species; the periodic cell is smaller than the cutoff for r_max ≳ 4 Å.
    """
    numbers = list(atomic_numbers)
    count = max(8, len(numbers))
    side = math.ceil(count ** (1 / 3) - 1e-9)
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)[:count]
    spacing = min(1.8, 0.6 * r_max)
    rng = np.random.default_rng(0)
    rattle = lambda: 0.1 * rng.standard_normal(grid.shape)  # noqa: E731
    molecule = Atoms(numbers=[numbers[k % len(numbers)] for k in range(count)], positions=spacing * (grid + rattle()))
    tilt = np.array([[1.0, 0.1, 0.0], [0.05, 1.0, 0.1], [0.0, 0.12, 1.0]])
    periodic = Atoms(
        numbers=[numbers[(k + 1) % len(numbers)] for k in range(count)],
        scaled_positions=(grid + 0.25 + rattle()) / side, cell=side * spacing * tilt, pbc=True,
    )  # fmt: skip
    return [molecule, periodic]


def _reference(model64: ICTP) -> List[Dict[str, Any]]:
    """The reference structures with the float64 eager model's energy (eV), forces (eV/Å) and stress (eV/Å³, 3x3)."""
    out = []
    for atoms in reference_structures(model64.atomic_numbers.tolist(), model64.r_max):
        periodic = bool(atoms.pbc.all())
        result = predict(model64, atoms, stress=periodic)
        entry = {
            "numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
            "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist(),
            "energy": result[keys.ENERGY].item(), "forces": result[keys.FORCES].tolist(),
        }  # fmt: skip
        if periodic:
            entry["stress"] = result[keys.STRESS][0].tolist()
        out.append(entry)
    return out


def _evaluate(module, entry: Dict[str, Any], atomic_numbers: Sequence[int], r_max: float, device):
    """A deployed module's energy, forces and (periodic) stress on one reference entry."""
    atoms = Atoms(numbers=entry["numbers"], positions=entry["positions"], cell=entry["cell"], pbc=entry["pbc"])
    graph = structures_to_batch([atoms], atomic_numbers, r_max, device)
    periodic = "stress" in entry
    out = run(module, graph[keys.SPECIES], graph[keys.EDGE_INDEX], edge_vectors(graph), len(atoms), periodic)
    if periodic:
        out[keys.STRESS] = stress_from_virial(out[keys.VIRIAL], atoms.get_volume())
    return {key: out[key].cpu().numpy() for key in (keys.ENERGY, keys.FORCES, keys.STRESS) if key in out}


def _check(module, metadata: Dict[str, Any], dtype: torch.dtype, device):
    """Compare ``module`` with the metadata's reference results; raise with the numbers when off."""
    tolerance = TOLERANCE[dtype]
    failures = []
    for k, entry in enumerate(metadata["reference"]):
        result = _evaluate(module, entry, metadata["atomic_numbers"], metadata["r_max"], device)
        for key, value in result.items():
            ref = np.asarray(entry[key])
            error = np.abs(value - ref).max(initial=0.0) / max(np.abs(ref).max(initial=0.0), 1.0)
            if not error <= tolerance:
                failures.append(f"structure {k} {key}: relative error {error:.3g} > {tolerance:g}")
    if failures:
        raise RuntimeError("the written file does not reproduce the eager model: " + "; ".join(failures))


def _metadata(model: ICTP, dtype: torch.dtype) -> Dict[str, Any]:
    model64 = copy.deepcopy(model).to(device="cpu", dtype=torch.float64)
    name = dtype_name(dtype)
    return {
        "format_version": FORMAT_VERSION,
        "ictp_version": __version__,
        "torch_version": torch.__version__,
        "species": model.species,
        "atomic_numbers": model.atomic_numbers.tolist(),
        "r_max": float(model.r_max),
        "num_layers": model.config.num_layers,
        "dtype": name,
        "units": dict(UNITS),
        "atomic_energies": dict(zip(model.species, model64.atomic_energies.tolist())),
        "hyperparameters": {**model.hyperparameters, "dtype": name},
        "reference": _reference(model64),
    }


def export(
    model: ICTP,
    path: Union[str, Path],
    dtype: Union[None, str, torch.dtype] = None,
    device: Union[str, torch.device] = "cpu",
    force: bool = False,
) -> Dict[str, Any]:
    """Write ``model`` as a deployed file, check it against the eager model, return its metadata.

    ``dtype`` (``"float32"``/``"float64"`` or a torch dtype; default the model's) and
    ``device`` are those of the written module; ``model`` itself is not changed.
    The file is written under a temporary name, loaded back and evaluated on the
    reference structures, and only then renamed to ``path``; on failure nothing is
    left and a ``RuntimeError`` gives the errors. An existing ``path`` is an error
    unless ``force``.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (ictp-deploy --force) to overwrite it")
    dtype = model.dtype if dtype is None else DTYPES[dtype_name(dtype)]
    device = resolve_device(device)
    metadata = _metadata(model, dtype)
    deployed = DeployedModel(copy.deepcopy(model).to(device=device, dtype=dtype)).eval()
    scripted = torch.jit.script(deployed)

    def write_and_check(tmp: str):
        torch.jit.save(scripted, tmp, _extra_files={METADATA_FILE: json.dumps(metadata)})
        loaded, _ = load_deployed(tmp, device)
        _check(loaded, metadata, dtype, device)

    atomic_write(path, write_and_check)
    return metadata


def load_deployed(
    path: Union[str, Path], device: Union[str, torch.device] = "cpu"
) -> Tuple[torch.jit.ScriptModule, Dict[str, Any]]:
    """Load a deployed file: ``(scripted module on device, metadata)``.

    Raises :class:`DeployedFileError` (a ``ValueError`` naming the file) for a
    corrupt, truncated or non-TorchScript file, missing metadata, or a format
    version newer than :data:`FORMAT_VERSION`.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    extra = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except RuntimeError as error:
        reason = str(error).splitlines()[0].split(". ")[0]
        raise DeployedFileError(
            f"{path} is not a deployed ictp model (corrupt, truncated or not TorchScript): {reason}"
        ) from error
    try:
        metadata = json.loads(extra[METADATA_FILE])
        version = int(metadata["format_version"])
    except (ValueError, TypeError, KeyError) as error:
        raise DeployedFileError(f"{path} has no valid {METADATA_FILE}; was it written by ictp-deploy?") from error
    if version > FORMAT_VERSION:
        raise DeployedFileError(
            f"{path} has format version {version}, newer than this ictp ({__version__}) reads "
            f"(format version {FORMAT_VERSION}); upgrade ictp"
        )
    return module, metadata
