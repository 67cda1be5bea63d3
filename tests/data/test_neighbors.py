"""Neighbour lists and graphs against ASE's reference neighbour list; the geometric checks on the way."""

import ase
import ase.build
import ase.neighborlist
import numpy as np
import pytest

from ictp import keys
from ictp.data.graph import atoms_to_graph, collate, edge_vectors, species_indices
from ictp.data.neighbors import MIN_DISTANCE, max_neighbors, neighbor_list


def edges(receivers, senders, vectors):
    return sorted(zip(receivers.tolist(), senders.tolist(), *np.round(vectors, 9).T.tolist()))


def structures():
    si = ase.build.bulk("Si", "diamond", a=5.43)
    shifted = si.copy()
    shifted.positions += [7.3, -3.1, 11.0]  # atoms far outside the cell
    triclinic = ase.build.bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    triclinic.set_cell(triclinic.cell.array @ np.array([[1, 0.3, 0], [0, 1, 0.2], [0.1, 0, 1]]), scale_atoms=True)
    triclinic.rattle(0.1, seed=1)
    slab = ase.build.fcc111("Al", (2, 2, 3), vacuum=5.0)
    slab.cell[2] = 0.0  # slabs often come without a vector along the vacuum
    wire = ase.Atoms("C2", positions=[[0, 0, 0], [0.7, 0.5, 1.3]], cell=[0, 0, 2.6], pbc=[False, False, True])
    return {
        "molecule": ase.build.molecule("CH3CH2OH"),
        "primitive_si": si,
        "outside_cell": shifted,
        "triclinic": triclinic,
        "slab": slab,
        "wire": wire,
        "tiny_cell": ase.Atoms("H", cell=[1.1, 1.3, 1.2], pbc=True),
    }


@pytest.mark.parametrize("name", list(structures()))
def test_neighbor_list_matches_ase(name):
    atoms = structures()[name]
    r_max = 5.0
    receivers, senders, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, r_max)
    vectors = atoms.positions[receivers] - atoms.positions[senders] - shifts
    ai, aj, a_shift = ase.neighborlist.neighbor_list("ijS", atoms, r_max)
    reference = atoms.positions[ai] - atoms.positions[aj] - a_shift @ atoms.cell.array
    assert edges(receivers, senders, vectors) == edges(ai, aj, reference)
    assert np.linalg.norm(vectors, axis=1).min() > 0  # no zero-length self-edge
    assert len(receivers) > 0


def test_degenerate_periodic_cell_is_an_error():
    atoms = ase.Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], pbc=True)
    with pytest.raises(ValueError, match="degenerate cell"):
        neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 3.0)


def test_batches_offset_edges_and_keep_float64_geometry():
    a, b = ase.build.molecule("H2O"), ase.build.molecule("CH4")
    graphs = [atoms_to_graph(x, [1, 6, 8], 3.0) for x in (a, b)]
    batch = collate(graphs)
    assert batch[keys.PTR].tolist() == [0, 3, 8]
    assert batch[keys.EDGE_INDEX][:, graphs[0][keys.EDGE_INDEX].shape[1] :].min() >= 3
    assert batch[keys.SPECIES].tolist() == [2, 0, 0, 1, 0, 0, 0, 0]
    vectors = edge_vectors(batch)
    assert vectors.dtype.is_floating_point and vectors.dtype.itemsize == 8


def test_unknown_elements_are_named():
    with pytest.raises(ValueError, match=r"\['Fe', 'U'\] not in the model's species \['H', 'O'\]"):
        species_indices(np.array([1, 26, 92, 8]), [1, 8])


def test_coincident_atoms_are_named():
    atoms = ase.build.molecule("CH3CH2OH")
    atoms.positions[5] = atoms.positions[2] + [0.0, 0.05, 0.0]
    with pytest.raises(ValueError, match=r"atoms 2 and 5 are 0.05 Å apart, closer than 0.1 Å .*remove the duplicate"):
        neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)
    atoms.positions[5] = atoms.positions[2] + [0.0, MIN_DISTANCE * 1.01, 0.0]
    neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 5.0)  # just above the threshold: allowed


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_positions_are_named(bad):
    atoms = ase.build.molecule("H2O")
    atoms.positions[1, 2] = bad
    with pytest.raises(ValueError, match="atom 1 has a NaN or infinite position"):
        atoms_to_graph(atoms, [1, 8], 3.0)


def test_structures_in_other_units_than_angstrom_are_errors():
    mo_in_nm = ase.build.bulk("Mo", "bcc", a=0.316, cubic=True)  # bcc Mo with a in nm
    with pytest.raises(ValueError, match=r"atoms/Å³, more than any physical structure .*in Å \(not nm or Bohr\)"):
        neighbor_list(mo_in_nm.positions, mo_in_nm.cell.array, mo_in_nm.pbc, 5.0)
    grid = 0.4 * np.stack(np.meshgrid(*[np.arange(9)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)  # 729 atoms
    with pytest.raises(ValueError, match=f"has 728 neighbours within r_max = 5 Å.*{max_neighbors(5.0)} at"):
        neighbor_list(grid, np.zeros((3, 3)), np.zeros(3, bool), 5.0)
    diamond = ase.build.bulk("C", "diamond", a=3.57) * (3, 3, 3)  # the densest solid: fine at a long cutoff too
    neighbor_list(diamond.positions, diamond.cell.array, diamond.pbc, 9.0)


@pytest.mark.parametrize("r_max", [0.0, -1.0, np.nan])
def test_cutoff_must_be_positive(r_max):
    with pytest.raises(ValueError, match="r_max must be a positive number of Å"):
        neighbor_list(np.zeros((1, 3)), np.zeros((3, 3)), np.zeros(3, bool), r_max)
