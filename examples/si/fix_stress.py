"""Copies of the mlearn Si files with the shear stresses in the right Voigt slots.

The shared extxyz files (``../shared/data/mlearn_Zuo2020``) were converted from
pymatgen's ``virial_stress`` assuming the order (xx, yy, zz, xy, xz, yz). VASP
and pymatgen write (xx, yy, zz, xy, yz, zx), so in those files σ_yz and σ_xz are
swapped: a cell sheared in the xz plane carries a 20 GPa σ_yz, which the cubic
crystal's mirror symmetry forbids, and no model can fit it. This script rebuilds
``stress`` from the kept raw vector ``virial_stress_kbar_raw`` (kbar, VASP sign:
positive = compressive) and writes the corrected copies; energies, forces and
the diagonal stresses are unchanged (checked).

    python examples/si/fix_stress.py [--data ../shared/data/mlearn_Zuo2020] [--out runs/data/mlearn_Si]
"""

import argparse
from pathlib import Path

import ase.io
import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress
from ase.units import GPa

KBAR_TO_EV_PER_A3 = 0.1 * GPa  # 1 kbar = 0.1 GPa
VASP_ORDER = ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (2, 0))  # xx, yy, zz, xy, yz, zx
FILES = ("Si_train.xyz", "Si_test.xyz")


def stress_from_raw(raw) -> np.ndarray:
    """``[3, 3]`` ASE stress (eV/Å³, positive = tensile) from VASP's 6-vector in kbar (positive = compressive)."""
    stress = np.zeros((3, 3))
    for value, (a, b) in zip(np.asarray(raw, dtype=float), VASP_ORDER):
        stress[a, b] = stress[b, a] = -value * KBAR_TO_EV_PER_A3
    return stress


def corrected(frames):
    """The frames with ``stress`` rebuilt from ``info["virial_stress_kbar_raw"]``; the diagonal must not change."""
    for index, atoms in enumerate(frames):
        if "virial_stress_kbar_raw" not in atoms.info:
            raise ValueError(f"structure {index} has no virial_stress_kbar_raw: not an mlearn file from ../shared/data")
        stress = stress_from_raw(atoms.info["virial_stress_kbar_raw"])
        old = atoms.get_stress(voigt=False)
        if not np.allclose(np.diag(stress), np.diag(old), rtol=1e-6, atol=1e-9):
            raise ValueError(f"structure {index}: the raw stress does not reproduce the file's diagonal stress")
        atoms.calc.results["stress"] = full_3x3_to_voigt_6_stress(stress)
    return frames


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mlearn_Zuo2020"))
    parser.add_argument("--out", type=Path, default=Path("runs/data/mlearn_Si"))
    parser.add_argument("--force", action="store_true", help="overwrite existing corrected copies")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        target = args.out / name
        if target.exists() and not args.force:
            print(f"{target} exists; kept (--force rewrites it)")
            continue
        frames = corrected(ase.io.read(args.data / name, ":"))
        partial = target.with_suffix(".xyz.partial")
        ase.io.write(partial, frames, format="extxyz")
        partial.replace(target)
        print(f"{target}: {len(frames)} structures, shear stresses in VASP's order")


if __name__ == "__main__":
    main()
