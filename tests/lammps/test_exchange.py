"""Several MPI ranks with the per-layer feature exchange (comm layer, the default) are exact.

1, 2, 4 and 8 (oversubscribed) ranks against ASE on a molecule, cubic and triclinic cells,
a cell smaller than the cutoff, an empty rank, NULL types, atom maps, a 3-layer model and
float32; comm layer against comm full; and MD trajectories whose atoms cross domain
boundaries following the one-rank trajectory.
"""

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from lammps_helpers import (
    EXAMPLE_MOLECULE,
    assert_agree,
    deck,
    deploy_model,
    execute,
    python_results,
    run_lammps,
    sic,
    write_data,
)

import ictp
from ictp import keys


def structure(name):
    """``(atoms, write_data keywords, deck keywords)`` of the test structures."""
    if name == "molecule":
        atoms = ase.io.read(EXAMPLE_MOLECULE, index=0)
        atoms.positions += 10.0 - atoms.positions.min(0)
        return atoms, dict(species=("H", "C", "N", "O"), box=(np.zeros(3), np.full(3, 30.0))), dict(
            boundary="f f f", elements="H C N O"
        )
    if name == "cubic":
        return sic(2), {}, {}
    if name == "triclinic, smaller than 2 r_max":
        return sic(1, triclinic=True), {}, {}
    if name == "smaller than r_max":  # every atom within the cutoff of its own images along x and y
        positions = [[0.3, 0.4, 1.0], [1.5, 1.6, 2.3], [0.2, 1.7, 3.9], [1.6, 0.5, 5.2]]
        atoms = Atoms("SiCSiC", positions=positions, cell=[2.8, 2.9, 6.4], pbc=True)
        atoms.rattle(0.05, seed=1)
        return atoms, {}, {}
    raise ValueError(name)


@pytest.fixture(scope="module")
def all_species_model():
    return ictp.ICTP(["H", "C", "N", "O", "Si"], num_channels=4, r_max=3.0, l_max_node=1, l_max_edge=2, seed=4)


@pytest.fixture(scope="module")
def all_species_file(all_species_model, tmp_path_factory):
    return deploy_model(all_species_model, tmp_path_factory.mktemp("all") / "model.pth")


@pytest.mark.parametrize("nprocs", [2, 4, 8])
@pytest.mark.parametrize("name", ["molecule", "cubic", "triclinic, smaller than 2 r_max", "smaller than r_max"])
def test_ranks_match_python(all_species_model, all_species_file, tmp_path, name, nprocs):
    atoms, data, options = structure(name)
    write_data(atoms, tmp_path / "data.lmp", **data)
    got = run_lammps(deck(all_species_file, **options), tmp_path, nprocs)
    assert "comm layer on" in (tmp_path / "log.lammps").read_text()
    assert_agree(got, python_results(all_species_model, atoms))


def test_comm_layer_equals_comm_full(model, model_file, tmp_path):
    write_data(sic(2), tmp_path / "data.lmp")
    layer = run_lammps(deck(model_file), tmp_path, 4)
    full = run_lammps(deck(model_file).replace("pair_style ictp", "pair_style ictp comm full"), tmp_path, 4)
    assert "comm full on 4 ranks" in (tmp_path / "log.lammps").read_text()
    assert_agree(layer, full, rtol=1e-12)


@pytest.mark.parametrize("nprocs", [2, 4])
def test_three_layers(tmp_path, nprocs):
    """The exchange runs after every layer, not only after the first."""
    model = ictp.ICTP(["Si", "C"], num_channels=4, r_max=3.0, l_max_node=2, l_max_edge=2, num_layers=3, seed=5)
    atoms = sic(2)
    write_data(atoms, tmp_path / "data.lmp")
    model_file = deploy_model(model, tmp_path / "three.pth")
    assert_agree(run_lammps(deck(model_file), tmp_path, nprocs), python_results(model, atoms))


def test_float32_model_exchanges_float32(tmp_path):
    model = ictp.ICTP(["Si", "C"], num_channels=4, r_max=3.0, l_max_node=1, l_max_edge=2, seed=1, dtype=torch.float32)
    atoms = sic(2)
    write_data(atoms, tmp_path / "data.lmp")
    model_file = deploy_model(model, tmp_path / "float32.pth")
    assert_agree(run_lammps(deck(model_file), tmp_path, 4), python_results(model, atoms), rtol=1e-5)
    # 4 channels x (1 + 3) components of float32 = 64 bytes = 8 doubles per atom (float64 would take 16)
    assert "(8 values per atom at most)" in (tmp_path / "log.lammps").read_text()


@pytest.mark.parametrize("atom_map", ["array", "hash", "yes"])
def test_atom_maps(model, model_file, tmp_path, atom_map):
    atoms = sic(2)
    write_data(atoms, tmp_path / "data.lmp")
    commands = deck(model_file).replace("read_data", f"atom_modify map {atom_map}\nread_data")
    assert_agree(run_lammps(commands, tmp_path, 2), python_results(model, atoms))


@pytest.mark.parametrize("nprocs, comm", [(0, "layer"), (4, "layer"), (4, "full")])
def test_null_types_under_hybrid_overlay(model, model_file, tmp_path, nprocs, comm):
    """Atoms of a type mapped to NULL are invisible to the model (here left to pair_style zero), on any ranks."""
    atoms = sic(2)
    others = np.arange(0, len(atoms), 7)
    symbols = atoms.get_chemical_symbols()
    for i in others:
        symbols[i] = "Ge"
    atoms.set_chemical_symbols(symbols)
    write_data(atoms, tmp_path / "data.lmp", species=("Si", "C", "Ge"))
    commands = deck(model_file, elements="Si C NULL").replace(
        "pair_style ictp\npair_coeff * * ",
        f"pair_style hybrid/overlay ictp comm {comm} zero 3.0\npair_coeff * * zero\npair_coeff * * ictp ",
    )
    got = run_lammps(commands, tmp_path, nprocs)
    keep = np.setdiff1d(np.arange(len(atoms)), others)
    ref = python_results(model, atoms[keep])
    for key in (keys.ENERGIES, keys.FORCES, keys.ATOM_VIRIAL, "stress_atom"):
        assert np.abs(got[key][others]).max() == 0.0, key
        got[key] = got[key][keep]
    assert_agree(got, ref)


def trajectory(model_file, folder, nprocs):
    """Positions (sorted by ID) after 200 NVE steps of 0.5 fs with a drift that carries atoms across domains."""
    execute(f"""
units metal
read_data data.lmp
pair_style ictp
pair_coeff * * {model_file} Si C
neighbor 0.5 bin
neigh_modify every 1 delay 0 check yes
velocity all create 600 4928 loop geom
velocity all set 8.0 4.0 0.0 sum yes
fix md all nve
timestep 0.0005
run 200
write_dump all custom end.dump id x y z modify sort id format float %.17g
""", folder, nprocs)  # fmt: skip
    return np.loadtxt(folder / "end.dump", skiprows=9)[:, 1:4]


def test_md_on_several_ranks_follows_one_rank(model_file, tmp_path):
    atoms = sic(2, rattle=0.0)
    write_data(atoms, tmp_path / "data.lmp")
    one = trajectory(model_file, tmp_path, 1)
    assert np.abs(one - atoms.positions).max() > 0.5  # the drift moved every atom by ~0.9 Å: many crossed domains
    for nprocs in (2, 4):
        np.testing.assert_allclose(trajectory(model_file, tmp_path, nprocs), one, atol=1e-8, rtol=0)
