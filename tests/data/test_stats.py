"""Training-set statistics: n̄, E0, scale and shift."""

import ase
import numpy as np

from ictp.data.extxyz import Configuration, read_configurations
from ictp.data.stats import (
    average_num_neighbors, fit_atomic_energies, is_isolated_atom, isolated_atom_energies, scale_and_shift,
)  # fmt: skip


def synthetic(e0, counts_list, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    configs = []
    for counts in counts_list:
        numbers = [z for z, n in zip((1, 8), counts) for _ in range(n)]
        atoms = ase.Atoms(numbers=numbers, positions=rng.normal(size=(len(numbers), 3)))
        energy = float(np.dot(counts, e0) + noise * rng.normal())
        configs.append(Configuration(atoms, energy, rng.normal(size=(len(numbers), 3))))
    return configs


def test_least_squares_recovers_reference_energies():
    e0 = np.array([-13.6, -2042.0])
    configs = synthetic(e0, [(2, 1), (4, 2), (1, 1), (3, 0), (0, 2)])
    np.testing.assert_allclose(fit_atomic_energies(configs, [1, 8]), e0, rtol=1e-12)


def test_isolated_atoms_give_e0(shared_data):
    configs = read_configurations(shared_data / "3BPA" / "iso_atoms.xyz")
    e0 = isolated_atom_energies(configs, r_max=5.0)
    assert e0[1] == -13.587222780835477 and e0[8] == -2041.9816003861047 and len(e0) == 4


def test_an_atom_without_neighbours_is_isolated_whatever_its_box():
    vasp = Configuration(ase.Atoms("O", positions=[[1.0, 2.0, 3.0]], cell=[20.0, 20.0, 20.0], pbc=True), -4.9)
    crystal = Configuration(ase.Atoms("Cu", cell=[[0, 1.8, 1.8], [1.8, 0, 1.8], [1.8, 1.8, 0]], pbc=True), -3.7)
    molecule = Configuration(ase.Atoms("O", positions=[[0.0, 0.0, 0.0]]), -2041.9)
    assert is_isolated_atom(vasp, 5.0) and is_isolated_atom(molecule, 5.0)
    assert not is_isolated_atom(crystal, 5.0)  # one atom, but its periodic images are neighbours
    assert not is_isolated_atom(vasp, 25.0)  # the box is smaller than this cutoff: the images are neighbours
    assert isolated_atom_energies([vasp, crystal], 5.0) == {8: -4.9}


def test_scale_is_force_rms_and_shift_absorbs_the_mean_residual():
    e0 = np.array([-1.0, -2.0])
    configs = synthetic(e0 + 0.5, [(2, 1), (4, 2), (1, 1), (3, 3)])
    scale, shift = scale_and_shift(configs, [1, 8], e0)
    forces = np.concatenate([c.forces for c in configs])
    assert scale == np.sqrt(np.mean(forces**2))
    residual = [c.energy - np.dot(counts, e0 + shift) for c, counts in zip(configs, [(2, 1), (4, 2), (1, 1), (3, 3)])]
    np.testing.assert_allclose(residual, 0, atol=0.15)  # ridge shrinks, so not exactly 0.5 per atom
    assert abs(np.mean(shift) - 0.5) < 0.1


def test_average_neighbors_ignores_isolated_atoms():
    assert average_num_neighbors([np.array([2, 4, 0]), np.array([6])]) == 4.0
    assert average_num_neighbors([np.array([0, 0])]) == 1.0
