"""pair_style ictp against ictp's Python model: energies, forces, virials, per-atom quantities, MPI ranks."""

import ase.build
import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from lammps_helpers import (
    NKTV2P_METAL,
    EXAMPLE_MOLECULE,
    assert_agree,
    deck,
    deploy_model,
    python_results,
    run_in_process,
    run_lammps,
    sic,
    write_data,
)

import ictp
from ictp import keys
from ictp.testing import assert_results_close

@pytest.fixture(scope="module")
def molecule_model():
    return ictp.ICTP(["H", "C", "N", "O"], num_channels=4, r_max=3.0, l_max_node=1, l_max_edge=2, num_layers=2, seed=2)


@pytest.mark.parametrize("cell", ["cubic 2x2x2", "triclinic, smaller than 2 r_max", "triclinic 1x1x2, Si only"])
def test_periodic_cells_match_python(model, model_file, tmp_path, cell):
    atoms = sic(2) if cell.startswith("cubic") else sic((1, 1, 2) if "Si only" in cell else 1, triclinic=True)
    if "Si only" in cell:
        atoms.set_chemical_symbols(["Si"] * len(atoms))
    write_data(atoms, tmp_path / "data.lmp")
    assert_agree(run_lammps(deck(model_file), tmp_path), python_results(model, atoms))


@pytest.mark.parametrize("boundary", ["f f f", "s s s"])
def test_molecule_in_a_non_periodic_box_matches_python(molecule_model, tmp_path, boundary):
    atoms = ase.io.read(EXAMPLE_MOLECULE, index=0)
    atoms.positions += 10.0 - atoms.positions.min(0)
    write_data(atoms, tmp_path / "data.lmp", species=("H", "C", "N", "O"), box=(np.zeros(3), np.full(3, 30.0)))
    model_file = deploy_model(molecule_model, tmp_path / "molecule.pth")
    got = run_lammps(deck(model_file, boundary=boundary, elements="H C N O"), tmp_path)
    assert_agree(got, python_results(molecule_model, atoms))


@pytest.mark.parametrize("nprocs", [1, 2, 4])
def test_mpi_ranks_agree_with_python(model, model_file, tmp_path, nprocs):
    """lmp and mpiexec -np N lmp: ghosts out to num_layers x r_max make several ranks exact."""
    atoms = sic(2)
    write_data(atoms, tmp_path / "data.lmp")
    assert_agree(run_lammps(deck(model_file), tmp_path, nprocs), python_results(model, atoms))


def test_empty_rank(molecule_model, tmp_path):
    """A processors grid that leaves rank 1 without atoms."""
    atoms = ase.io.read(EXAMPLE_MOLECULE, index=0)
    atoms.positions += 2.0 - atoms.positions.min(0)
    write_data(atoms, tmp_path / "data.lmp", species=("H", "C", "N", "O"), box=(np.zeros(3), np.array([40.0, 20, 20])))
    model_file = deploy_model(molecule_model, tmp_path / "molecule.pth")
    commands = deck(model_file, boundary="f f f", elements="H C N O").replace(
        "read_data", "processors 2 1 1\nread_data"
    )
    assert atoms.positions[:, 0].max() < 20.0  # rank 1 owns x > 20: nothing
    assert_agree(run_lammps(commands, tmp_path, 2), python_results(molecule_model, atoms))


def test_units_real_converts_energies(model, model_file, tmp_path):
    atoms = sic(1, triclinic=True)
    write_data(atoms, tmp_path / "data.lmp")
    ref = python_results(model, atoms)
    got = run_lammps(deck(model_file, units="real"), tmp_path)
    ev = 23.060549  # kcal/mol, LAMMPS's own factor (utils::get_conversion_factor, also used by units real)
    assert np.allclose(got[keys.ENERGY], ev * ref[keys.ENERGY], rtol=1e-12, atol=0)
    assert np.abs(got[keys.FORCES] - ev * ref[keys.FORCES]).max() < 1e-10 * ev * np.abs(ref[keys.FORCES]).max()


def test_reference_structures(tiny_model, deployed_file, reference, tmp_path):
    """LAMMPS on the deployed reference model gives the numbers of tests/reference/structures.yaml."""
    for entry in reference["structures"]:
        atoms, expected = entry["atoms"].copy(), dict(entry["results"])
        elements = [s for s in tiny_model.species if s in atoms.get_chemical_symbols()]
        folder = tmp_path / entry["name"]
        folder.mkdir()
        if "stress" in expected:
            write_data(atoms, folder / "data.lmp", species=elements)
            expected[keys.VIRIAL] = -np.asarray(expected.pop("stress")) * atoms.get_volume()
            boundary = "p p p"
        else:
            atoms.positions += 10.0 - atoms.positions.min(0)  # inside the box; a translation changes nothing
            write_data(atoms, folder / "data.lmp", species=elements, box=(np.zeros(3), np.full(3, 30.0)))
            boundary = "f f f"
        got = run_lammps(deck(deployed_file, boundary=boundary, elements=" ".join(elements)), folder)
        assert_results_close(got, expected, rtol=1e-10)


def md_commands(model_file, fix: str, steps: int, output: str) -> str:
    """A deck that reads data.lmp, starts at 300 K with a 0.5 fs step, runs ``fix`` and ``output`` for ``steps``."""
    return f"""
units metal
read_data data.lmp
pair_style ictp
pair_coeff * * {model_file} Si C
velocity all create 300 12345 loop geom
fix md all {fix}
timestep 0.0005
{output}
thermo 100
run {steps}
"""


def test_nve_conserves_energy(model_file, tmp_path):
    """2000 steps (1 ps): no drift of the total energy beyond its fluctuation, which is far below kT."""
    atoms = sic(2, rattle=0.0)
    write_data(atoms, tmp_path / "data.lmp")
    output = 'variable etot equal etotal\nfix etot all print 10 "$(step) ${etot}" file etot.txt screen no'
    run_in_process(md_commands(model_file, "nve", 2000, output), tmp_path)
    step, etot = np.loadtxt(tmp_path / "etot.txt").T
    time_ns = step * 0.0005e-3
    drift = np.polyfit(time_ns, etot, 1)[0] / len(atoms)  # eV per atom per ns
    print(f"NVE drift {drift:.3g} eV/atom/ns, fluctuation {np.std(etot) / len(atoms):.3g} eV/atom")
    kinetic = 1.5 * len(atoms) * 8.617333e-5 * 300
    assert len(etot) == 201
    assert np.ptp(etot) < 1e-3 * kinetic, np.ptp(etot)
    assert abs(drift) < 5e-3, drift


def test_float32_model(tmp_path):
    """A float32 model gets float64 edge vectors and returns float64 results (to float32 rounding)."""
    model = ictp.ICTP(["Si", "C"], num_channels=4, r_max=3.0, l_max_node=1, l_max_edge=2, num_layers=2, seed=1,
                      dtype=torch.float32)  # fmt: skip
    atoms = sic(1, triclinic=True)
    write_data(atoms, tmp_path / "data.lmp")
    model_file = deploy_model(model, tmp_path / "float32.pth")
    assert_agree(run_lammps(deck(model_file), tmp_path), python_results(model, atoms), rtol=1e-5)


def test_atoms_without_neighbours(model, model_file, tmp_path):
    """Two atoms beyond r_max of each other and their images: no edges, energies are the atomic baselines."""
    atoms = Atoms("SiC", positions=[[1.0, 1.0, 1.0], [4.5, 4.5, 4.5]], cell=np.eye(3) * 7.0, pbc=True)
    write_data(atoms, tmp_path / "data.lmp")
    got = run_lammps(deck(model_file), tmp_path)
    ref = python_results(model, atoms)
    assert np.abs(got[keys.FORCES]).max() == 0.0 and np.abs(got[keys.VIRIAL]).max() == 0.0
    assert np.allclose(got[keys.ENERGIES], ref[keys.ENERGIES], rtol=1e-12, atol=0)


def test_pressure_is_minus_the_strain_derivative_of_the_energy(model_file, tmp_path):
    """LAMMPS's own sign convention, independent of Python: P_xx V = -dE/d(eps_xx), by central differences."""
    write_data(sic(2), tmp_path / "data.lmp")
    h = 1e-5
    run_in_process(
        f"""units metal
read_data data.lmp
pair_style ictp
pair_coeff * * {model_file} Si C
thermo_style custom step pe pxx vol
run 0
print "$(pxx:%.17g) $(vol:%.17g)" file p.txt
change_box all x scale {1 + h} remap
run 0
print "$(pe:%.17g)" file plus.txt
change_box all x scale {(1 - h) / (1 + h):.17g} remap
run 0
print "$(pe:%.17g)" file minus.txt
""",
        tmp_path,
    )
    pxx, volume = np.loadtxt(tmp_path / "p.txt")
    derivative = (np.loadtxt(tmp_path / "plus.txt") - np.loadtxt(tmp_path / "minus.txt")) / (2 * h)
    assert abs(pxx) > 100.0  # bar: a meaningful test
    assert np.isclose(pxx * volume / NKTV2P_METAL, -derivative, rtol=1e-6, atol=0)


def test_npt_is_stable(model_file, tmp_path):
    """A short NPT run: the box responds to the model's pressure without blowing up."""
    write_data(sic(2, rattle=0.0), tmp_path / "data.lmp")
    output = 'fix end all print 100 "$(vol:%.17g) $(temp:%.17g) $(pe:%.17g)" file end.txt screen no'
    run_in_process(md_commands(model_file, "npt temp 300 300 0.05 iso 0 0 0.5", 100, output), tmp_path)
    volume, temperature, energy = np.loadtxt(tmp_path / "end.txt")[-1]
    assert np.isfinite(energy) and 0.8 < volume / (2 * 4.36) ** 3 < 1.2 and 0 < temperature < 1000


def test_restart_then_pair_coeff_gives_the_same_energy(model_file, tmp_path):
    write_data(sic(1, triclinic=True), tmp_path / "data.lmp")
    setup = f"pair_style ictp\npair_coeff * * {model_file} Si C\n"
    run_in_process(
        f"units metal\nread_data data.lmp\n{setup}run 0\nprint \"$(pe:%.17g)\" file before.txt\nwrite_restart r.restart\n"
        f"clear\nread_restart r.restart\n{setup}run 0\nprint \"$(pe:%.17g)\" file after.txt\n",
        tmp_path,
    )
    assert np.isclose(np.loadtxt(tmp_path / "after.txt"), np.loadtxt(tmp_path / "before.txt"), rtol=1e-12, atol=0)


def test_host_python_keeps_its_torch_settings(model, model_file, tmp_path, monkeypatch):
    """LAMMPS driven from Python with `threads 1`: torch's thread count and graph optimiser are the host's after.

    (LAMMPS itself sets the OpenMP thread count, which torch shares, to OMP_NUM_THREADS or 1 when it starts.)
    """
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    write_data(sic(1, triclinic=True), tmp_path / "data.lmp")
    threads, optimize = torch.get_num_threads(), torch._C._get_graph_executor_optimize()
    torch.set_num_threads(2)
    try:
        got = run_lammps(deck(model_file).replace("pair_style ictp", "pair_style ictp threads 1"), tmp_path)
        assert torch.get_num_threads() == 2 and torch._C._get_graph_executor_optimize() == optimize
    finally:
        torch.set_num_threads(threads)
    assert_agree(got, python_results(model, sic(1, triclinic=True)))
