"""Writes structures.yaml: the reference structures and the float64 results of the reference model.

    python tests/reference/generate.py

Run it again only when a change is meant to change the model's numbers (a new
initialisation, another normalisation), and say so in the commit. The model,
ASE and LAMMPS tests all compare with this one file (the idea of LAMMPS's
unittest/force-styles YAML files). Periodic cells are stored in LAMMPS's frame
(a along x, b in the xy plane, atoms wrapped), so LAMMPS reads them as they are.
"""

from pathlib import Path

import ase.build
import ase.io
import numpy as np
import yaml
from ase.geometry import cellpar_to_cell

import ictp
from ictp import keys

HERE = Path(__file__).resolve().parent
MODEL = dict(
    species=["H", "C", "N", "O", "Si"], r_max=3.0, num_channels=4, l_max_edge=2, radial_mlp=[8, 8],
    atomic_energies=[-13.6, -1029.5, -1484.3, -2041.8, -7869.2], avg_num_neighbors=8.0, seed=1,
)  # fmt: skip
"""Keywords of ictp.ICTP: a tiny float64 model for H, C, N, O and Si with realistic E0s (eV)."""


def structures():
    """A 3BPA molecule, a rattled triclinic SiC cell smaller than 2 r_max and a rattled cubic 2x2x2 SiC supercell."""
    molecule = ase.io.read(HERE.parents[1] / "examples" / "data" / "3bpa.xyz", index=0)
    triclinic = ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True)
    triclinic.set_cell(triclinic.cell.array @ np.array([[1.0, 0.1, 0.0], [0.05, 1.0, 0.1], [0.0, 0.12, 1.0]]), scale_atoms=True)
    triclinic.rattle(0.05, seed=3)
    cubic = ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True).repeat(2)
    cubic.rattle(0.05, seed=3)
    for cell in (triclinic, cubic):
        cell.set_cell(cellpar_to_cell(cell.cell.cellpar()), scale_atoms=True)
        cell.wrap()
    return {"3bpa": molecule, "sic_triclinic": triclinic, "sic_cubic_2x2x2": cubic}


def entry(model, name, atoms):
    periodic = bool(atoms.pbc.all())
    out = model.predict(atoms, stress=periodic)
    result = {
        "name": name, "numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
        "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist(), "energy": out[keys.ENERGY].item(),
        "energies": out[keys.ENERGIES].tolist(), "forces": out[keys.FORCES].tolist(),
    }  # fmt: skip
    if periodic:
        result["stress"] = out[keys.STRESS][0].tolist()
    return result


def main():
    model = ictp.ICTP(**MODEL)
    document = {"model": MODEL, "structures": [entry(model, name, atoms) for name, atoms in structures().items()]}
    header = (
        "# Reference structures and the float64 results of the reference model: energy (eV), energies (eV),\n"
        "# forces (eV/Å), stress (eV/Å³, ASE sign). Written by tests/reference/generate.py; do not edit.\n"
    )
    text = yaml.safe_dump(document, default_flow_style=None, sort_keys=False, width=120)
    (HERE / "structures.yaml").write_text(header + text)


if __name__ == "__main__":
    main()
