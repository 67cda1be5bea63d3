"""ICTPCalculator: derivatives, per-atom parts, repeated calls, neighbour-list reuse, inputs and errors."""

import copy

import ase.build
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import CalculationFailed, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress as voigt
from ase.stress import voigt_6_to_full_3x3_stress

import ictp
from ictp import keys
from ictp.testing import assert_results_close, finite_difference_forces, finite_difference_stress
from ictp.model import save_model


@pytest.fixture(scope="module")
def calc(deployed_file):
    return ictp.ICTPCalculator(deployed_file)


def results(calc, atoms, properties):
    """A fresh calculation of ``properties`` on ``atoms``, as a copy of the results."""
    calc.calculate(atoms, properties, all_changes)
    return {key: np.copy(value) for key, value in calc.results.items()}


def test_reference_structures(calc, reference):
    """The deployed reference model in ASE gives the numbers of tests/reference/structures.yaml."""
    for entry in reference["structures"]:
        periodic = "stress" in entry["results"]
        out = results(calc, entry["atoms"], ["energy", "energies", "forces"] + (["stress"] if periodic else []))
        if periodic:
            out["stress"] = voigt_6_to_full_3x3_stress(out["stress"])
        assert_results_close(out, entry["results"], rtol=1e-10)


def test_forces_and_stress_are_derivatives_of_the_energy(calc, molecule, triclinic_cell):
    energy = calc.get_potential_energy
    fd = finite_difference_forces(energy, molecule, [0, 5, 26])
    np.testing.assert_allclose(calc.get_forces(molecule)[[0, 5, 26]], fd, rtol=0, atol=1e-7)
    fd = finite_difference_forces(energy, triclinic_cell, [0, 7])
    np.testing.assert_allclose(calc.get_forces(triclinic_cell)[[0, 7]], fd, rtol=0, atol=1e-7)
    fd = finite_difference_stress(energy, triclinic_cell)
    np.testing.assert_allclose(calc.get_stress(triclinic_cell), voigt(fd), rtol=0, atol=1e-8)


def test_pressure_is_minus_volume_derivative(calc, triclinic_cell):
    delta, volume = 1e-5, triclinic_cell.get_volume()
    energies = []
    for sign in (1, -1):
        scaled = triclinic_cell.copy()
        scaled.set_cell(triclinic_cell.cell * (1 + sign * delta) ** (1 / 3), scale_atoms=True)
        energies.append(calc.get_potential_energy(scaled))
    dE_dV = (energies[0] - energies[1]) / (2 * delta * volume)
    pressure = -calc.get_stress(triclinic_cell)[:3].mean()
    assert pressure == pytest.approx(-dE_dV, abs=1e-8)


def test_per_atom_parts_sum_to_the_totals(calc, triclinic_cell):
    out = results(calc, triclinic_cell, ["energy", "stress", "stresses"])
    assert out["energies"].shape == (8,) and out["stresses"].shape == (8, 6)
    assert out["energies"].sum() == pytest.approx(out["energy"], abs=1e-10)
    np.testing.assert_allclose(out["stresses"].sum(0), out["stress"], rtol=0, atol=1e-12)
    assert out["free_energy"] == out["energy"]


def test_repeated_calls_give_identical_results(calc, triclinic_cell):
    sequence = [["energy"], ["forces"], ["energy"], ["stress"], ["energy"], ["forces", "stresses"]] + [["energy"], ["forces"]] * 2
    first = results(calc, triclinic_cell, ["forces", "stress", "stresses"])
    for properties in sequence:
        out = results(calc, triclinic_cell, properties)
        for key in ("energy", "forces", "stress"):
            assert np.array_equal(out[key], first[key]), (properties, key)


@pytest.mark.parametrize("structure", ["molecule", "triclinic_cell"])
def test_neighbour_list_reuse_equals_fresh_builds(deployed_file, structure, request):
    atoms = request.getfixturevalue(structure).copy()
    periodic = bool(atoms.pbc.all())
    properties = ["forces", "stress"] if periodic else ["forces"]
    calc = ictp.ICTPCalculator(deployed_file, skin=1.0)
    rng = np.random.default_rng(0)
    for step in range(4):
        atoms.positions += rng.uniform(-0.1, 0.1, atoms.positions.shape) / np.sqrt(3)  # at most 0.1 Å per step
        out = results(calc, atoms, properties)
        fresh = results(ictp.ICTPCalculator(deployed_file, skin=1.0), atoms, properties)
        assert all(np.array_equal(out[key], fresh[key]) for key in fresh)
    assert calc.neighbor_list_builds == 1
    atoms.positions[3] += [0.6, 0.0, 0.0]  # more than skin / 2 from the build
    out = results(calc, atoms, properties)
    assert calc.neighbor_list_builds == 2
    fresh = results(ictp.ICTPCalculator(deployed_file, skin=1.0), atoms, properties)
    assert all(np.array_equal(out[key], fresh[key]) for key in fresh)


def test_cell_change_rebuilds(calc, triclinic_cell):
    atoms = triclinic_cell.copy()
    calc.get_stress(atoms)
    builds = calc.neighbor_list_builds
    atoms.set_cell(atoms.cell * 1.01, scale_atoms=True)
    calc.get_stress(atoms)
    assert calc.neighbor_list_builds == builds + 1


def test_small_cells_and_mixed_periodicity_equal_the_model(calc, tiny_model, triclinic_cell):
    small = ase.build.bulk("Si", "diamond", a=3.9)  # primitive cell, heights 1.9 Å < r_max = 3 Å
    small.rattle(0.05, seed=1)
    slab = triclinic_cell.copy()
    slab.pbc = [True, True, False]
    for atoms, stress in [(small, True), (slab, False)]:
        ref = tiny_model.predict(atoms, stress=stress)
        out = results(calc, atoms, ["forces", "stress"] if stress else ["forces"])
        assert out["energy"] == pytest.approx(ref[keys.ENERGY].item(), rel=1e-12)
        np.testing.assert_allclose(out["forces"], ref[keys.FORCES].numpy(), rtol=0, atol=1e-10)
        if stress:
            np.testing.assert_allclose(out["stress"], voigt(ref[keys.STRESS][0].numpy()), rtol=0, atol=1e-10)


def test_stress_needs_full_periodicity(calc, molecule, triclinic_cell):
    slab = triclinic_cell.copy()
    slab.pbc = [True, True, False]
    for atoms in (molecule, slab):
        with pytest.raises(PropertyNotImplementedError, match="periodic in all three directions"):
            calc.get_stress(atoms)


def test_unknown_element_is_named(calc):
    with pytest.raises(ValueError, match="Fe"):
        calc.get_potential_energy(Atoms("FeH", positions=[[0, 0, 0], [1.5, 0, 0]]))


def test_eager_model_and_training_file_give_the_same_results(calc, tiny_model, triclinic_cell, tmp_path):
    save_model(tiny_model, tmp_path / "model.pt")
    ref = results(calc, triclinic_cell, ["forces", "stress", "stresses"])
    for model in (tiny_model, tmp_path / "model.pt", str(tmp_path / "model.pt")):
        out = results(ictp.ICTPCalculator(model), triclinic_cell, ["forces", "stress", "stresses"])
        for key in ref:
            np.testing.assert_allclose(out[key], ref[key], rtol=1e-12, atol=1e-12)


def test_coincident_atoms_are_an_error_naming_them(calc, molecule):
    atoms = molecule.copy()
    atoms.positions[7] = atoms.positions[3]
    with pytest.raises(ValueError, match=r"atoms 3 and 7 are 0 Å apart, closer than 0.1 Å"):
        calc.get_potential_energy(atoms)
    moving = molecule.copy()
    calc.get_forces(moving)
    builds = calc.neighbor_list_builds
    moving.positions[12] = moving.positions[11] + [0.0, 0.0, 0.02]  # an MD step that lands on a neighbour
    with pytest.raises(ValueError, match=r"atoms 11 and 12 are 0.02 Å apart"):
        calc.get_forces(moving)
    assert calc.neighbor_list_builds >= builds  # caught on the edges of the list, rebuilt or not


def test_non_finite_positions_and_other_units_are_errors(calc, molecule):
    atoms = molecule.copy()
    calc.get_potential_energy(atoms)
    atoms.positions[5, 0] = np.nan  # would not trigger a rebuild of the neighbour list
    with pytest.raises(ValueError, match="atom 5 has a NaN or infinite position"):
        calc.get_potential_energy(atoms)
    silicon_in_nm = ase.build.bulk("Si", "diamond", a=0.543)
    with pytest.raises(ValueError, match=r"atoms/Å³, more than any physical structure.*in Å \(not nm or Bohr\)"):
        calc.get_potential_energy(silicon_in_nm)


def test_nan_results_are_an_error_not_a_result(tiny_model, triclinic_cell):
    broken = copy.deepcopy(tiny_model)
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    calc = ictp.ICTPCalculator(broken)
    with pytest.raises(CalculationFailed, match=r"the model returned NaN or infinite .*energy.*forces.* for these 8 atoms"):
        calc.get_stress(triclinic_cell)
    with pytest.raises(CalculationFailed):  # asked again, still no result
        calc.get_potential_energy(triclinic_cell)
