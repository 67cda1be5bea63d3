"""Main job (for now): evaluate a freshly initialised ICTP model on bundled structures.

Prints energy, forces and stress for a 3BPA molecule and a periodic SiC cell.
Training (`ictp-train`), export (`ictp-deploy`) and LAMMPS extend this job in
later releases.
"""

from pathlib import Path

import ase.build
import ase.io
import numpy as np

import ictp

here = Path(__file__).resolve().parent
molecule = ase.io.read(here / "data" / "3bpa.xyz", index=0)
cell = ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True)
cell.rattle(0.05, seed=0)

model = ictp.ICTP(
    species=["H", "C", "N", "O", "Si"], r_max=5.0, num_channels=16, l_max_node=2, l_max_edge=3,
    correlation=3, avg_num_neighbors=15.0,
)  # fmt: skip
print(f"model: {sum(p.numel() for p in model.parameters())} parameters, {model.hyperparameters}")

out = model.predict(molecule)
print(f"\n3BPA ({molecule.get_chemical_formula()}), untrained model:")
print(f"  energy      {out['energy'].item():.6f} eV")
print(f"  forces      (eV/Å, first 3 atoms)\n{np.array2string(out['forces'][:3].numpy(), precision=6)}")

out = model.predict(cell, stress=True)
print(f"\nperiodic SiC cell ({len(cell)} atoms), untrained model:")
print(f"  energy      {out['energy'].item():.6f} eV")
print(f"  max |force| {out['forces'].abs().max().item():.6f} eV/Å")
print(f"  stress      (eV/Å³)\n{np.array2string(out['stress'][0].numpy(), precision=6)}")
