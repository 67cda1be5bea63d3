"""Forces, virials and stress from the edge gradients: equal to direct derivatives, and the stress-virial relation."""

import ase
import torch

from ictp import keys
from ictp.data.graph import edge_vectors, structures_to_batch
from ictp.model.outputs import cell_volume, energy_derivatives, stress_from_virial, virial_from_stress


def graph_of(model, atoms):
    return structures_to_batch([atoms], model.atomic_numbers.tolist(), model.r_max)


def test_forces_and_virial_equal_position_and_strain_derivatives(tiny_model, triclinic_cell):
    batch = graph_of(tiny_model, triclinic_cell)
    vectors = edge_vectors(batch).requires_grad_(True)
    out = energy_derivatives(
        tiny_model(batch[keys.SPECIES], batch[keys.EDGE_INDEX], vectors), vectors, batch[keys.EDGE_INDEX],
        batch[keys.BATCH], 1, compute_virial=True, compute_atom_virial=True,
    )  # fmt: skip
    # Direct: positions and a homogeneous strain eps move every edge vector to r (1 + eps).
    positions = batch[keys.POSITIONS].clone().requires_grad_(True)
    strain = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    moved = edge_vectors({**batch, keys.POSITIONS: positions}) @ (torch.eye(3, dtype=torch.float64) + strain)
    energy = tiny_model(batch[keys.SPECIES], batch[keys.EDGE_INDEX], moved).sum()
    d_positions, d_strain = torch.autograd.grad(energy, [positions, strain])
    torch.testing.assert_close(out[keys.ENERGY][0], energy.detach())
    torch.testing.assert_close(out[keys.FORCES], -d_positions, atol=1e-12, rtol=0)
    torch.testing.assert_close(out[keys.VIRIAL][0], -d_strain, atol=1e-11, rtol=0)
    torch.testing.assert_close(out[keys.ATOM_VIRIAL].sum(0), out[keys.VIRIAL][0], atol=1e-12, rtol=0)
    assert out[keys.FORCES].abs().max() > 1e-3 and out[keys.VIRIAL].abs().max() > 1e-3


def test_only_local_atoms_count(tiny_model, triclinic_cell):
    batch = graph_of(tiny_model, triclinic_cell)
    vectors = edge_vectors(batch).requires_grad_(True)
    energies = tiny_model(batch[keys.SPECIES], batch[keys.EDGE_INDEX], vectors)
    out = energy_derivatives(energies, vectors, batch[keys.EDGE_INDEX], batch[keys.BATCH], 1, num_local=3)
    assert out[keys.ENERGIES].shape == (3,) and out[keys.FORCES].shape == (len(triclinic_cell), 3)
    torch.testing.assert_close(out[keys.ENERGY][0], energies[:3].sum())


def test_structures_without_edges_get_zero_forces_and_virial(tiny_model):
    batch = graph_of(tiny_model, ase.Atoms("HO", positions=[[0, 0, 0], [10, 0, 0]]))
    vectors = edge_vectors(batch).requires_grad_(True)
    energies = tiny_model(batch[keys.SPECIES], batch[keys.EDGE_INDEX], vectors)
    out = energy_derivatives(energies, vectors, batch[keys.EDGE_INDEX], batch[keys.BATCH], 1, compute_virial=True)
    assert out[keys.FORCES].abs().max() == 0 and out[keys.VIRIAL].abs().max() == 0


def test_stress_is_minus_virial_over_volume(triclinic_cell):
    cell = torch.from_numpy(triclinic_cell.cell.array)[None]
    volume = cell_volume(cell)
    torch.testing.assert_close(volume, torch.tensor([triclinic_cell.get_volume()], dtype=torch.float64))
    virial = torch.randn(1, 3, 3, dtype=torch.float64)
    stress = stress_from_virial(virial, volume)
    torch.testing.assert_close(stress, -virial / triclinic_cell.get_volume())
    torch.testing.assert_close(stress_from_virial(virial[0], triclinic_cell.get_volume()), stress[0])
    torch.testing.assert_close(virial_from_stress(stress, volume), virial)
    assert stress_from_virial(virial.float(), volume).dtype == torch.float32
