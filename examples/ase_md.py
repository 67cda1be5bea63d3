"""ASE with a deployed ICTP model: relax a molecule, run a short Langevin MD, relax a periodic cell.

    python examples/ase_md.py model.pt2 [--molecule FILE] [--cell FILE] [--steps N]

The molecule defaults to the first 3BPA structure of ``examples/data/3bpa.xyz``; the
periodic cell defaults to that molecule in a tight triclinic box (a molecular crystal with
one molecule per cell, built from the relaxed molecule), so any model whose species cover H, C, N and O works. Pass
``--cell`` with any ASE-readable periodic structure for other chemistry.
"""

import argparse
from pathlib import Path

import ase.io
import numpy as np
from ase import units
from ase.filters import FrechetCellFilter
from ase.md.langevin import Langevin
from ase.optimize import BFGS

import ictp

try:  # ASE >= 3.29
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta

DATA = Path(__file__).resolve().parent / "data"


def molecular_crystal(molecule, vacuum: float = 1.5):
    """``molecule`` in a slightly sheared periodic box leaving ``vacuum`` Å to its images."""
    crystal = molecule.copy()
    crystal.center(vacuum=vacuum)
    crystal.set_cell(crystal.cell.array @ np.array([[1.0, 0.05, 0.0], [0.0, 1.0, 0.05], [0.05, 0.0, 1.0]]))
    crystal.pbc = True
    return crystal


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="deployed model file (ictp-deploy) or training model file (.pt)")
    parser.add_argument("--molecule", default=str(DATA / "3bpa.xyz"), help="molecule to relax and run (first structure)")
    parser.add_argument("--cell", help="periodic structure to relax with its cell (default: the molecule as a crystal)")
    parser.add_argument("--steps", type=int, default=30, help="steps of each optimisation and of the MD (default 30)")
    args = parser.parse_args(argv)
    calc = ictp.ICTPCalculator(args.model)

    molecule = ase.io.read(args.molecule, index=0)
    molecule.calc = calc
    print(f"molecule {molecule.get_chemical_formula()}: energy {molecule.get_potential_energy():.6f} eV")
    BFGS(molecule, logfile=None).run(fmax=0.05, steps=args.steps)
    fmax = np.linalg.norm(molecule.get_forces(), axis=1).max()
    print(f"BFGS ({args.steps} steps at most): energy {molecule.get_potential_energy():.6f} eV, max |F| {fmax:.4f} eV/Å")
    relaxed = molecule.copy()

    thermalize_momenta(molecule, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = Langevin(
        molecule, 0.5 * units.fs, temperature_K=300, friction=0.01 / units.fs, fixcm=False, rng=np.random.default_rng(1)
    )

    def report():
        total = molecule.get_potential_energy() + molecule.get_kinetic_energy()
        print(f"  MD step {dynamics.nsteps:4d}: E_total {total:.6f} eV, T {molecule.get_temperature():6.1f} K")

    dynamics.attach(report, interval=max(1, args.steps // 3))
    print(f"Langevin MD, 300 K, 0.5 fs, {args.steps} steps:")
    dynamics.run(args.steps)

    cell = ase.io.read(args.cell, index=0) if args.cell else molecular_crystal(relaxed)
    cell.calc = calc
    print(f"periodic cell {cell.get_chemical_formula()}, {cell.get_volume():.2f} Å³:")
    print(f"  stress before (eV/Å³, xx yy zz yz xz xy) {np.array2string(cell.get_stress(), precision=5)}")
    BFGS(FrechetCellFilter(cell), logfile=None).run(fmax=0.05, steps=args.steps)
    print(f"  FrechetCellFilter + BFGS ({args.steps} steps at most): {cell.get_volume():.2f} Å³, "
          f"energy {cell.get_potential_energy():.6f} eV")
    print(f"  stress after  (eV/Å³, xx yy zz yz xz xy) {np.array2string(cell.get_stress(), precision=5)}")


if __name__ == "__main__":
    main()
