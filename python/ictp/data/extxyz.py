"""Labelled structures from extended XYZ files (``.xyz``, ``.extxyz``, compressed ``.gz``/``.xz``/``.bz2``).

Labels are looked up by key wherever ASE put them: ``atoms.info`` (per
structure), ``atoms.arrays`` (per atom) or, since ASE 3.23, the results of the
SinglePointCalculator that the reader attaches for the standard names
(``energy``, ``forces``, ``stress``). A structure without a label gets ``None``
for it (and later no loss term), never a zero.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import ase.io
import numpy as np
from ase import Atoms

__all__ = ["Configuration", "describe", "located", "read_configurations"]


@dataclass
class Configuration:
    """One structure with its reference labels (eV, eV/Å, eV/Å³; ASE stress sign).

    ``file`` and ``index`` say where it was read (for error messages; empty and -1 otherwise).
    """

    atoms: Atoms
    energy: Optional[float] = None
    forces: Optional[np.ndarray] = None  # [N, 3]
    stress: Optional[np.ndarray] = None  # [3, 3]
    config_type: str = "Default"
    info: dict = field(default_factory=dict)
    file: str = ""
    index: int = -1

    @property
    def where(self) -> str:
        """``"train.xyz, structure 3"``, or ``""`` for a structure that was not read from a file."""
        return f"{self.file}, structure {self.index}" if self.file else ""


@contextmanager
def located(config: Configuration):
    """A ValueError raised inside starts with where ``config`` was read (``"train.xyz, structure 3: ..."``)."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{config.where}: {error}" if config.where else str(error)) from None


def describe(configurations: Sequence[Configuration]) -> str:
    """Where structures come from, file by file: ``"train.xyz structures 3, 7; valid.xyz structure 0"``."""
    by_file: Dict[str, List[int]] = {}
    for config in configurations:
        by_file.setdefault(config.file or "(not from a file)", []).append(config.index)
    return "; ".join(
        f"{name} structure{'s' if len(indices) > 1 else ''} {', '.join(map(str, indices))}"
        for name, indices in by_file.items()
    )


def _lookup(atoms: Atoms, key: Optional[str]):
    """The value stored under ``key`` in info, arrays or calculator results, else None."""
    if not key:
        return None
    if key in atoms.info:
        return atoms.info[key]
    if key in atoms.arrays:
        return atoms.arrays[key]
    if atoms.calc is not None and key in getattr(atoms.calc, "results", {}):
        return atoms.calc.results[key]
    return None


def _as_matrix(value, what: str, where: str) -> np.ndarray:
    """A 3x3 matrix from 9 components or 6 Voigt components (xx, yy, zz, yz, xz, xy)."""
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size == 9:
        return array.reshape(3, 3)
    if array.size == 6:
        xx, yy, zz, yz, xz, xy = array
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    raise ValueError(f"{where}: {what} has {array.size} components; expected 9 (3x3) or 6 (Voigt)")


def _check_finite(value, what: str, where: str):
    if value is not None and not np.all(np.isfinite(value)):
        raise ValueError(f"{where}: {what} contains NaN or infinite values; fix or remove this structure")


def read_configurations(
    path: Union[str, Path],
    energy_key: Optional[str] = "energy",
    forces_key: Optional[str] = "forces",
    stress_key: Optional[str] = "stress",
    virial_key: Optional[str] = "virial",
    config_type_key: str = "config_type",
    index: str = ":",
) -> List[Configuration]:
    """Read every structure of an extended XYZ file with its labels.

    A virial ``W`` (eV) is converted to stress ``-W / V`` when no stress is given.
    Errors name the file, the structure and the fix: a file that does not parse or holds
    no structure, NaN labels, forces of the wrong shape, a virial of a non-periodic structure.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"data file {str(path)!r} is a folder; name an extended XYZ file in it")
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative paths are read from the current folder, {Path.cwd()})"
        raise FileNotFoundError(f"data file {str(path)!r} does not exist{where}")
    try:
        frames = ase.io.read(path, index=index, format="extxyz")
    except Exception as error:  # ASE raises many types for malformed files
        raise ValueError(f"could not read {str(path)!r} as extended XYZ: {error}") from error
    if not frames:
        raise ValueError(f"{str(path)!r} holds no structures; give an extended XYZ file with at least one")
    configurations = []
    for k, atoms in enumerate(frames):
        where = f"{path.name}, structure {k}"
        energy = _lookup(atoms, energy_key)
        forces = _lookup(atoms, forces_key)
        stress = _lookup(atoms, stress_key)
        virial = _lookup(atoms, virial_key)
        if energy is not None:
            energy = float(np.asarray(energy).reshape(()))
        if forces is not None:
            forces = np.asarray(forces, dtype=np.float64)
            if forces.shape != (len(atoms), 3):
                raise ValueError(f"{where}: {forces_key!r} has shape {forces.shape}, expected ({len(atoms)}, 3)")
        if stress is not None:
            stress = _as_matrix(stress, stress_key, where)
        elif virial is not None:
            if not atoms.pbc.all():
                raise ValueError(f"{where}: a virial needs a periodic cell to give a stress; pbc={atoms.pbc.tolist()}")
            stress = -_as_matrix(virial, virial_key, where) / atoms.get_volume()
        for value, what in ((energy, energy_key), (forces, forces_key), (stress, stress_key)):
            _check_finite(value, what, where)
        clean = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        info = {key: value for key, value in atoms.info.items() if key not in (energy_key, stress_key, virial_key)}
        configurations.append(
            Configuration(
                clean, energy, forces, stress, str(atoms.info.get(config_type_key, "Default")), info, path.name, k
            )
        )
    return configurations
