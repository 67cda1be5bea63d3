"""The deployment contract on a periodic cell cut into local atoms and explicit ghosts, as LAMMPS does it."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

import ictp
from ictp import keys
from ictp.data.graph import edge_vectors, species_indices, structures_to_batch
from ictp.deploy import DeployedModel


@pytest.fixture(scope="module")
def model():
    return ictp.ICTP(["Si", "C"], r_max=3.0, num_channels=4, l_max_node=1, l_max_edge=2, num_layers=2, seed=1)


def _local_and_ghosts(atoms, ghost_cutoff):
    """Atoms of the cell first, then every periodic image within ``ghost_cutoff`` of the cell: (positions, owner)."""
    i, j, shift = neighbor_list("ijS", atoms, ghost_cutoff)
    images = {(int(b), tuple(s)) for b, s in zip(j, shift) if any(s)}
    images = sorted(images)
    owner = np.array(list(range(len(atoms))) + [b for b, _ in images])
    offsets = np.array([(0, 0, 0)] * len(atoms) + [s for _, s in images], dtype=float)
    positions = atoms.positions[owner] + offsets @ atoms.cell.array
    return positions, owner


@pytest.mark.parametrize("ghost_factor", [1, 2])
def test_local_energies_with_ghosts_equal_the_periodic_model(model, triclinic_cell, ghost_factor):
    """With ghosts out to layers × cutoff the result is exact; with one cutoff only, it is not (checks the test)."""
    atoms = triclinic_cell
    ref = model.predict(atoms, stress=True)
    positions, owner = _local_and_ghosts(atoms, ghost_factor * model.r_max)
    i, j, d = neighbor_list("ijD", Atoms(numbers=atoms.numbers[owner], positions=positions), model.r_max)
    vectors = torch.as_tensor(-d)  # D = x_j - x_i; the contract wants x_receiver - x_sender with i receiving
    species = torch.as_tensor(species_indices(atoms.numbers[owner], model.atomic_numbers.tolist()))
    edge_index = torch.as_tensor(np.stack([i, j]))
    out = DeployedModel(model)(species, edge_index, vectors, len(atoms), True, True)
    folded = torch.zeros(len(atoms), 3, dtype=torch.float64).index_add(0, torch.as_tensor(owner), out[keys.FORCES])
    close = lambda a, b: torch.allclose(a, b, rtol=0, atol=1e-10)  # noqa: E731
    results = [
        close(out[keys.ENERGY], ref[keys.ENERGY][0]),
        close(out[keys.ENERGIES], ref[keys.ENERGIES]),
        close(folded, ref[keys.FORCES]),
        close(out[keys.VIRIAL], ref[keys.VIRIAL][0]),
    ]
    assert all(results) == (ghost_factor >= model.config.num_layers), results
    assert torch.allclose(out[keys.ATOM_VIRIAL].sum(0), out[keys.VIRIAL], atol=1e-12)


def test_scripted_contract_matches_eager_over_repeated_calls(model, triclinic_cell):
    graph = structures_to_batch([triclinic_cell], model.atomic_numbers.tolist(), model.r_max)
    args = (graph[keys.SPECIES], graph[keys.EDGE_INDEX], edge_vectors(graph), len(triclinic_cell))
    eager = DeployedModel(model)(*args, True, True)
    scripted = torch.jit.script(DeployedModel(model))
    with torch.jit.optimized_execution(False):
        for flags in [(False, False), (True, True), (False, False), (True, True)]:
            out = scripted(*args, *flags)
            assert all(v.dtype == torch.float64 and not v.requires_grad for v in out.values())
            for key, value in out.items():
                torch.testing.assert_close(value, eager[key], rtol=0, atol=1e-13)
            assert (keys.VIRIAL in out) == flags[0]


def test_bad_contract_inputs_are_errors(model, triclinic_cell):
    graph = structures_to_batch([triclinic_cell], model.atomic_numbers.tolist(), model.r_max)
    deployed = DeployedModel(model)
    vectors = edge_vectors(graph)
    with pytest.raises(ValueError, match="num_local"):
        deployed(graph[keys.SPECIES], graph[keys.EDGE_INDEX], vectors, 99)
    with pytest.raises(ValueError, match="species indices"):
        deployed(graph[keys.SPECIES] + 5, graph[keys.EDGE_INDEX], vectors, 8)
    with pytest.raises(ValueError, match="edge_vectors"):
        deployed(graph[keys.SPECIES], graph[keys.EDGE_INDEX], vectors[:-1], 8)
