"""Writing and reading deployed model files: compiled packages (``.pt2``) and TorchScript (``.pth``).

Both formats carry the deployment contract (``docs/deployed_model.md``) and the
same ``metadata.json``: species, cutoff, dtype, units, training statistics, what
the file was compiled for, and reference structures with the float64 eager
model's results.

* ``.pt2`` (the default for new files): AOTInductor compiles the contract, forces
  and virials inside, with the fused CPU kernels (:mod:`ictp.deploy.compiled`).
  Fast, but tied to the torch version, device kind and CPU instruction set it was
  compiled on. Compiling takes a minute or more; packages are cached by content,
  so re-deploying an unchanged model on the same machine is quick.
* ``.pth``: ``torch.jit.script`` of the contract with the reference kernels.
  Portable across machines; deprecated by PyTorch, kept for comparison and as a
  fallback. Not frozen: with torch 2.13 ``torch.jit.freeze`` kept outputs
  attached to the graph, differed at rounding level and was not faster.

Every file is checked before it is renamed into place, and again whenever it is
loaded (:func:`load_deployed`): it must reproduce the reference results.
"""

import copy
import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from ase import Atoms

from .. import __version__, keys, native
from ..data.graph import edge_vectors, structures_to_batch
from ..devices import resolve_device
from ..files import atomic_write
from ..model import ICTP, stress_from_virial
from ..model.config import DTYPES, dtype_name
from . import compiled
from .layers import feature_shapes
from .module import DeployedModel

__all__ = [
    "FORMAT_VERSION", "FORMATS", "METADATA_FILE", "DeployedFileError", "export", "load_deployed",
    "reference_structures", "run",
]  # fmt: skip

FORMAT_VERSION = 2
FORMATS = {".pt2": "aotinductor", ".pth": "torchscript"}
METADATA_FILE = "metadata.json"
UNITS = {"energy": "eV", "length": "Angstrom"}
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
"""Largest accepted error of a file against the float64 eager model, relative to the largest
reference value of each quantity (energy, forces, virial) or to 1 where that is smaller."""


class DeployedFileError(ValueError):
    """A file that is not a usable deployed model (corrupt, truncated, another format, too new, or wrong results)."""


def run(module, species, edge_index, vectors, num_local: int, compute_virial=False, compute_atom_virial=False):
    """Call a deployed module (scripted, compiled or eager) with the graph executor's optimisation off.

    Thread-local and restored on return; see docs/conventions.md for why it must be off.
    """
    with torch.jit.optimized_execution(False):
        return module(species, edge_index, vectors, num_local, compute_virial, compute_atom_virial)


def reference_structures(atomic_numbers: Sequence[int], r_max: float, count: int = 8, seed: int = 0) -> List[Atoms]:
    """A molecule and a rattled triclinic periodic cell built from the model's species, deterministic.

    Atoms sit on a rattled cubic grid with spacing ``min(1.8, 0.6 r_max)`` Å, at least ``count``
    of them and one per species; the periodic cell is smaller than the cutoff for r_max ≳ 4 Å.
    """
    numbers = list(atomic_numbers)
    count = max(count, len(numbers))
    side = math.ceil(count ** (1 / 3) - 1e-9)
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)[:count]
    spacing = min(1.8, 0.6 * r_max)
    rng = np.random.default_rng(seed)
    rattle = lambda: 0.1 * rng.standard_normal(grid.shape)  # noqa: E731
    molecule = Atoms(numbers=[numbers[k % len(numbers)] for k in range(count)], positions=spacing * (grid + rattle()))
    tilt = np.array([[1.0, 0.1, 0.0], [0.05, 1.0, 0.1], [0.0, 0.12, 1.0]])
    periodic = Atoms(
        numbers=[numbers[(k + 1) % len(numbers)] for k in range(count)],
        scaled_positions=(grid + 0.25 + rattle()) / side, cell=side * spacing * tilt, pbc=True,
    )  # fmt: skip
    return [molecule, periodic]


def _graph(atoms: Atoms, atomic_numbers: Sequence[int], r_max: float, device) -> Tuple[torch.Tensor, ...]:
    """Species, edge index and float64 edge vectors of one structure (the contract's inputs)."""
    graph = structures_to_batch([atoms], atomic_numbers, r_max, device)
    return graph[keys.SPECIES], graph[keys.EDGE_INDEX], edge_vectors(graph)


def _reference(model64: ICTP) -> List[Dict[str, Any]]:
    """The reference structures, their graphs and the float64 eager model's energy (eV), forces (eV/Å),
    virial (eV) and, for the periodic one, stress (eV/Å³, 3x3)."""
    out = []
    numbers = model64.atomic_numbers.tolist()
    for atoms in reference_structures(numbers, model64.r_max):
        periodic = bool(atoms.pbc.all())
        species, edge_index, vectors = _graph(atoms, numbers, model64.r_max, "cpu")
        result = DeployedModel(model64)(species, edge_index, vectors, len(atoms), True, False)
        entry = {
            "numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
            "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist(),
            "graph": {"species": species.tolist(), "edge_index": edge_index.tolist(), "edge_vectors": vectors.tolist()},
            "energy": result[keys.ENERGY].item(), "forces": result[keys.FORCES].tolist(),
            "virial": result[keys.VIRIAL].tolist(),
        }  # fmt: skip
        if periodic:
            entry["stress"] = stress_from_virial(result[keys.VIRIAL], atoms.get_volume()).tolist()
        out.append(entry)
    return out


def check_reference(module, metadata: Dict[str, Any], device) -> None:
    """Evaluate ``module`` on the metadata's reference structures; DeployedFileError with the numbers if it is off."""
    tolerance = TOLERANCE[getattr(torch, metadata["dtype"])]
    failures = []
    for k, entry in enumerate(metadata["reference"]):
        atoms = Atoms(numbers=entry["numbers"], positions=entry["positions"], cell=entry["cell"], pbc=entry["pbc"])
        inputs = _graph(atoms, metadata["atomic_numbers"], metadata["r_max"], device)
        out = run(module, *inputs, len(atoms), "virial" in entry)
        for key in (keys.ENERGY, keys.FORCES, keys.VIRIAL):
            if key not in entry:
                continue
            value, ref = out[key].detach().cpu().double().numpy(), np.asarray(entry[key])
            error = np.abs(value - ref).max(initial=0.0) / max(np.abs(ref).max(initial=0.0), 1.0)
            if not error <= tolerance:
                failures.append(f"structure {k} {key}: relative error {error:.3g} > {tolerance:g}")
    if failures:
        raise DeployedFileError("it does not reproduce the results recorded at export: " + "; ".join(failures))


def _metadata(model: ICTP, dtype: torch.dtype, file_format: str, device: torch.device) -> Dict[str, Any]:
    model64 = copy.deepcopy(model).to(device="cpu", dtype=torch.float64).set_kernels("reference")
    name = dtype_name(dtype)
    metadata = {
        "format_version": FORMAT_VERSION,
        "format": file_format,
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
        "exchange": ["full", "layer"],
        "feature_shapes": feature_shapes(model),
        "reference": _reference(model64),
    }
    if file_format == "aotinductor":
        metadata["compiled"] = compiled.compiled_info(device)
    return metadata


def _file_format(path: Path, file_format: Optional[str]) -> str:
    if file_format is None:
        if path.suffix not in FORMATS:
            raise ValueError(f"{path}: give the deployed file a suffix .pt2 (compiled) or .pth (TorchScript), "
                             "or choose the format (--format aotinductor|torchscript)")  # fmt: skip
        return FORMATS[path.suffix]
    if file_format not in FORMATS.values():
        raise ValueError(f"unknown format {file_format!r}; choose aotinductor (.pt2) or torchscript (.pth)")
    return file_format


def _package_key(model: ICTP, metadata: Dict[str, Any]) -> str:
    """A hash of everything a compiled package depends on: weights, metadata, versions, kernels, CPU."""
    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(json.dumps(native.build_key(), sort_keys=True).encode())
    return digest.hexdigest()[:24]


def export(
    model: ICTP,
    path: Union[str, Path],
    dtype: Union[None, str, torch.dtype] = None,
    device: Union[str, torch.device] = "cpu",
    force: bool = False,
    file_format: Optional[str] = None,
    log: Callable[[str], None] = lambda line: None,
) -> Dict[str, Any]:
    """Write ``model`` as a deployed file, check it against the eager model, return its metadata.

    ``file_format`` is ``"aotinductor"`` or ``"torchscript"``, by default chosen by the
    suffix (``.pt2`` or ``.pth``). ``dtype`` (``"float32"``/``"float64"`` or a torch dtype;
    default the model's) and ``device`` are those of the written file; ``model`` itself is
    not changed. The file is written under a temporary name, loaded back and evaluated on
    the reference structures (none of which is the structure a package is traced with), and
    only then renamed to ``path``; on failure nothing is left. An existing ``path`` is an
    error unless ``force``. ``log`` receives progress lines (compiling takes a while).
    """
    path = Path(path)
    file_format = _file_format(path, file_format)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (ictp-deploy --force) to overwrite it")
    dtype = model.dtype if dtype is None else DTYPES[dtype_name(dtype)]
    device = resolve_device(device)
    metadata = _metadata(model, dtype, file_format, device)
    copy_of_model = copy.deepcopy(model).to(device=device, dtype=dtype).eval()

    if file_format == "torchscript":
        scripted = torch.jit.script(DeployedModel(copy_of_model.set_kernels("reference")))

        def write(tmp: str):
            torch.jit.save(scripted, tmp, _extra_files={METADATA_FILE: json.dumps(metadata)})

    else:
        copy_of_model.set_kernels("fused" if device.type == "cpu" else "reference")
        cached = native.cache_root() / "packages" / f"{_package_key(copy_of_model, metadata)}.pt2"

        def write(tmp: str):
            if cached.is_file():
                log(f"using the package compiled earlier for this model ({cached})")
                shutil.copyfile(cached, tmp)
                return
            example = _graph(reference_structures(model.atomic_numbers.tolist(), model.r_max, count=5, seed=1)[0],
                             model.atomic_numbers.tolist(), model.r_max, device)  # fmt: skip
            package = compiled.temporary_package(Path(tmp).parent)
            try:
                compiled.compile_package(copy_of_model, package, metadata, (*example, torch.tensor(len(example[0]))), log)
                shutil.copyfile(package, tmp)
            finally:
                shutil.rmtree(package.parent, ignore_errors=True)

    def write_and_check(tmp: str):
        write(tmp)
        log(f"checking the file against the model on {len(metadata['reference'])} reference structures")
        load_deployed(tmp, device)  # checks the reference results
        if file_format == "aotinductor" and not cached.is_file():
            atomic_write(cached, lambda cache_tmp: shutil.copyfile(tmp, cache_tmp))

    try:
        atomic_write(path, write_and_check)
    except DeployedFileError as error:
        raise RuntimeError(f"the written file does not reproduce the eager model: {error}") from None
    return metadata


def load_deployed(path: Union[str, Path], device: Union[str, torch.device] = "cpu", check: bool = True):
    """Load a deployed file of either format: ``(module following the contract, metadata)``.

    With ``check`` (the default) the module is evaluated on the reference structures and must
    reproduce the results recorded at export (wrong library versions, CPU or a corrupted file
    otherwise). Raises :class:`DeployedFileError` (a ``ValueError`` naming the file) for a corrupt,
    truncated or foreign file, missing metadata, a format version newer than
    :data:`FORMAT_VERSION`, a package compiled for another machine, or wrong results.
    """
    device = resolve_device(device)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    metadata = compiled.read_metadata(path)
    if compiled.is_package(path):
        module = _open(path, lambda: compiled.CompiledModel(path, metadata or {}, device), "an AOTInductor package")
    else:
        extra = {METADATA_FILE: ""}
        module = _open(path, lambda: torch.jit.load(str(path), map_location=device, _extra_files=extra), "TorchScript")
        metadata = metadata or _parse(extra[METADATA_FILE])
    if metadata is None or "format_version" not in metadata:
        raise DeployedFileError(f"{path} has no valid {METADATA_FILE}; was it written by ictp-deploy?")
    if int(metadata["format_version"]) > FORMAT_VERSION:
        raise DeployedFileError(
            f"{path} has format version {metadata['format_version']}, newer than this ictp ({__version__}) reads "
            f"(format version {FORMAT_VERSION}); upgrade ictp"
        )
    if check:
        try:
            check_reference(module, metadata, device)
        except DeployedFileError as error:
            raise DeployedFileError(f"{path}: {error}; re-run ictp-deploy with this installation") from None
    return module, metadata


def _parse(text: str) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _open(path, opener, what: str):
    """``opener()``, with the errors of a file that is not what it should be turned into one clear message."""
    try:
        return opener()
    except native.NativeBuildError:
        raise
    except ValueError as error:
        raise DeployedFileError(str(error)) from None
    except (RuntimeError, OSError) as error:
        reason = str(error).splitlines()[0].split(". ")[0] if str(error) else type(error).__name__
        raise DeployedFileError(
            f"{path} is not a deployed ictp model (corrupt, truncated or not {what}): {reason}"
        ) from error
