"""The ICTP model: symmetries, derivatives, extensivity, precision, TorchScript and errors."""

import ase
import numpy as np
import pytest
import torch

import ictp
from ictp import keys
from ictp.data.graph import edge_vectors, structures_to_batch
from ictp.testing import (
    assert_equivariant,
    assert_results_close,
    cartesian_action,
    finite_difference_forces,
    finite_difference_stress,
    random_orthogonal,
)

SMALL = dict(num_channels=8, radial_mlp=(16, 16), l_max_node=2, l_max_edge=3, correlation=3, avg_num_neighbors=8.0)
MOLECULE_SPECIES = ["H", "C", "N", "O"]


def small_model(species=MOLECULE_SPECIES, **kwargs):
    options = {**SMALL, "atomic_energies": {s: -1.0 - k for k, s in enumerate(species)}, **kwargs}
    return ictp.ICTP(species, **options)


def energy_fn(model):
    return lambda atoms: float(model.predict(atoms)[keys.ENERGY][0])


VARIANTS = [
    dict(),
    dict(product_basis="full"),
    dict(product_basis="sym+lt", num_product_channels=4),
    dict(odd_products=True),
    dict(representation="dense"),
    dict(num_layers=3, l_max_node=1, correlation=4),
    dict(num_layers=1, correlation=1),
    dict(correlation=5, l_max_node=1, l_max_edge=2),
    dict(l_max_node=3, l_max_edge=5, correlation=2),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "default")
@pytest.mark.parametrize("improper", [False, True])
def test_energy_invariant_and_forces_equivariant_under_o3(molecule, variant, improper, dtype):
    model = small_model(dtype=dtype, **variant)

    def energy_and_forces(positions):
        out = model.predict(ase.Atoms(molecule.numbers, positions.numpy()))
        return out[keys.ENERGY], out[keys.FORCES]

    vector = cartesian_action(1)
    rotate_and_shift = lambda x, rotation: vector(x, rotation) + torch.tensor([1.3, -2.0, 0.7], dtype=x.dtype)  # noqa: E731
    positions = torch.from_numpy(molecule.positions)
    assert_equivariant(energy_and_forces, [positions], [rotate_and_shift], [None, vector], random_orthogonal(11, improper))
    assert energy_and_forces(positions)[1].abs().max() > 1e-3  # the check above is not vacuous


def test_stress_equivariant_and_invariant_under_image_shifts(triclinic_cell):
    model = small_model(["C", "Si"])
    out = model.predict(triclinic_cell, stress=True)

    def energy_and_stress(positions, cell):
        out = model.predict(ase.Atoms(triclinic_cell.numbers, positions.numpy(), cell=cell.numpy(), pbc=True), stress=True)
        return out[keys.ENERGY], out[keys.STRESS]

    args = [torch.from_numpy(triclinic_cell.positions), torch.from_numpy(triclinic_cell.cell.array)]
    vector = cartesian_action(1)
    assert_equivariant(energy_and_stress, args, [vector, vector], [None, cartesian_action(2)], random_orthogonal(5, True))
    # Moving atoms by lattice vectors and wrapping changes nothing.
    shifted = triclinic_cell.copy()
    shifted.positions[[0, 3]] += triclinic_cell.cell.array[0] - 2 * triclinic_cell.cell.array[2]
    for atoms in (shifted, _wrapped(shifted)):
        other = model.predict(atoms, stress=True)
        torch.testing.assert_close(other[keys.ENERGY], out[keys.ENERGY], atol=1e-12, rtol=1e-13)
        torch.testing.assert_close(other[keys.FORCES], out[keys.FORCES], atol=1e-12, rtol=0)
        torch.testing.assert_close(other[keys.STRESS], out[keys.STRESS], atol=1e-12, rtol=0)


def _wrapped(atoms):
    atoms = atoms.copy()
    atoms.wrap()
    return atoms


def test_permuting_atoms_permutes_forces(molecule):
    model = small_model()
    perm = np.random.default_rng(0).permutation(len(molecule))
    out, out_perm = model.predict(molecule), model.predict(molecule[perm])
    torch.testing.assert_close(out_perm[keys.ENERGY], out[keys.ENERGY], atol=1e-12, rtol=1e-13)
    torch.testing.assert_close(out_perm[keys.FORCES], out[keys.FORCES][perm], atol=1e-12, rtol=0)
    torch.testing.assert_close(out_perm[keys.ENERGIES], out[keys.ENERGIES][perm], atol=1e-12, rtol=0)


@pytest.mark.parametrize("variant", [dict(), dict(odd_products=True, product_basis="full")])
def test_forces_are_minus_the_energy_gradient(molecule, variant):
    model = small_model(**variant)
    forces = model.predict(molecule)[keys.FORCES].numpy()
    indices = [0, 7, 26]
    reference = finite_difference_forces(energy_fn(model), molecule, indices, delta=1e-4)
    np.testing.assert_allclose(forces[indices], reference, atol=1e-7, rtol=1e-6)


def test_periodic_forces_and_stress_match_finite_differences(triclinic_cell):
    model = small_model(["C", "Si"])
    out = model.predict(triclinic_cell, stress=True)
    reference = finite_difference_forces(energy_fn(model), triclinic_cell, [0, 5], delta=1e-4)
    np.testing.assert_allclose(out[keys.FORCES].numpy()[[0, 5]], reference, atol=1e-7, rtol=1e-6)
    stress = finite_difference_stress(energy_fn(model), triclinic_cell, delta=1e-5)
    np.testing.assert_allclose(out[keys.STRESS][0].numpy(), stress, atol=1e-8, rtol=1e-6)
    np.testing.assert_allclose(out[keys.VIRIAL][0].numpy(), -stress * triclinic_cell.get_volume(), atol=1e-6, rtol=1e-6)
    assert np.abs(stress).max() > 1e-4


def test_supercell_is_extensive(triclinic_cell):
    model = small_model(["C", "Si"])
    out = model.predict(triclinic_cell, stress=True)
    big = model.predict(triclinic_cell * (2, 2, 2), stress=True)
    torch.testing.assert_close(big[keys.ENERGY], 8 * out[keys.ENERGY], atol=1e-10, rtol=1e-12)
    torch.testing.assert_close(big[keys.STRESS], out[keys.STRESS], atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(big[keys.FORCES][: len(triclinic_cell)], out[keys.FORCES], atol=1e-12, rtol=0)


def test_tiny_cell_with_self_images():
    """One atom in a cell much smaller than the cutoff: every neighbour is a periodic self-image."""
    atoms = ase.Atoms("Si", positions=[[0, 0, 0]], cell=[[0, 2.2, 2.2], [2.2, 0, 2.2], [2.2, 2.2, 0.3]], pbc=True)
    model = small_model(["Si"])
    out = model.predict(atoms, stress=True)
    assert torch.isfinite(out[keys.ENERGY]).all()
    np.testing.assert_allclose(out[keys.FORCES].numpy(), 0, atol=1e-12)  # inversion symmetry of a Bravais lattice
    stress = finite_difference_stress(energy_fn(model), atoms, delta=1e-5)
    np.testing.assert_allclose(out[keys.STRESS][0].numpy(), stress, atol=1e-8, rtol=1e-6)


def test_per_atom_energies_sum_to_the_energy_and_batches_match_singles(molecules, triclinic_cell):
    model = small_model(["H", "C", "N", "O", "Si"])
    structures = molecules[:3] + [triclinic_cell.copy()]
    structures[-1].numbers[:] = 6
    out = model.predict(structures)
    ptr = out[keys.PTR]
    for b, atoms in enumerate(structures):
        single = model.predict(atoms)
        torch.testing.assert_close(out[keys.ENERGY][b], single[keys.ENERGY][0], atol=1e-11, rtol=1e-13)
        torch.testing.assert_close(out[keys.FORCES][ptr[b] : ptr[b + 1]], single[keys.FORCES], atol=1e-12, rtol=0)
        torch.testing.assert_close(out[keys.ENERGIES][ptr[b] : ptr[b + 1]].sum(), out[keys.ENERGY][b], atol=1e-11, rtol=1e-13)


def test_isolated_atoms_give_reference_energies_and_zero_force():
    atoms = ase.Atoms("HO", positions=[[0, 0, 0], [20, 0, 0]])
    model = small_model(atomic_energies={"H": -13.6, "C": -1029.5, "N": -1485.0, "O": -2042.0})
    out = model.predict(atoms)
    torch.testing.assert_close(out[keys.ENERGY], torch.tensor([-13.6 - 2042.0], dtype=torch.float64))
    assert out[keys.FORCES].abs().max() == 0
    scripted = torch.jit.script(model)
    batch = structures_to_batch([atoms], model.atomic_numbers.tolist(), model.r_max)
    with torch.jit.optimized_execution(False):
        torch.testing.assert_close(scripted(batch[keys.SPECIES], batch[keys.EDGE_INDEX], edge_vectors(batch)), out[keys.ENERGIES])


def test_energy_is_smooth_at_the_cutoff():
    model = small_model(["C"])
    energies = []
    for d in (model.r_max - 1e-6, model.r_max + 1e-6):
        out = model.predict(ase.Atoms("C2", positions=[[0, 0, 0], [d, 0, 0]]))
        energies.append(out[keys.ENERGY].item())
        assert out[keys.FORCES].abs().max() < 1e-12
    assert abs(energies[0] - energies[1]) < 1e-14


def test_float32_agrees_with_float64(molecule):
    out64 = small_model().predict(molecule)
    model32 = small_model(dtype=torch.float32)
    out32 = model32.predict(molecule)
    assert out32[keys.ENERGY].dtype == torch.float32 and model32.dtype == torch.float32
    torch.testing.assert_close(out32[keys.ENERGY].double(), out64[keys.ENERGY], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out32[keys.FORCES].double(), out64[keys.FORCES], atol=1e-4, rtol=1e-3)


def test_dense_and_compressed_representations_agree(molecule, triclinic_cell):
    for atoms, species in ((molecule, MOLECULE_SPECIES), (triclinic_cell, ["C", "Si"])):
        fast = small_model(species, odd_products=True).predict(atoms, stress=atoms.pbc.all())
        dense = small_model(species, odd_products=True, representation="dense").predict(atoms, stress=atoms.pbc.all())
        for key in fast:
            torch.testing.assert_close(dense[key], fast[key], atol=1e-11, rtol=1e-12)


def test_scripted_model_matches_eager_over_repeated_calls(molecule):
    """Scripted and eager agree call after call, also after an energy-only call.

    With TorchScript's graph-executor optimisation on, torch 2.13 returns wrong
    gradients once a scripted function has seen inputs that do not require
    grad; scripted ICTP models are therefore always run with it off.
    """
    model = small_model()
    scripted = torch.jit.script(model)
    batch = structures_to_batch([molecule], model.atomic_numbers.tolist(), model.r_max)
    with torch.jit.optimized_execution(False):
        energy_only = scripted(batch[keys.SPECIES], batch[keys.EDGE_INDEX], edge_vectors(batch))
        torch.testing.assert_close(energy_only, model(batch[keys.SPECIES], batch[keys.EDGE_INDEX], edge_vectors(batch)))
        for step in range(5):
            moved = edge_vectors(batch) * (1 + 0.01 * step)
            results = []
            for fn in (model, scripted):
                vectors = moved.clone().requires_grad_(True)
                energies = fn(batch[keys.SPECIES], batch[keys.EDGE_INDEX], vectors)
                results.append(
                    ictp.model.energy_derivatives(energies, vectors, batch[keys.EDGE_INDEX], batch[keys.BATCH], 1, compute_virial=True)
                )
            for key in results[0]:
                torch.testing.assert_close(results[1][key], results[0][key], atol=1e-12, rtol=1e-12)


def test_global_torch_state_is_untouched(molecule):
    dtype, rng = torch.get_default_dtype(), torch.random.get_rng_state()
    model = small_model(dtype=torch.float32, seed=3)
    model.predict(molecule)
    assert torch.get_default_dtype() == dtype
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_seed_makes_initialisation_reproducible(molecule):
    a, b, c = small_model(seed=1), small_model(seed=1), small_model(seed=2)
    assert a.predict(molecule)[keys.ENERGY] == b.predict(molecule)[keys.ENERGY]
    assert a.predict(molecule)[keys.ENERGY] != c.predict(molecule)[keys.ENERGY]


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(species=["H", "Xx"]), "unknown element"), (dict(product_basis="sym+latent"), "sym\\+lt"),
     (dict(dtype=torch.float16), "float32"), (dict(l_max_node=3, l_max_edge=2), "l_max_node"),
     (dict(representation="e3nn"), "compressed"), (dict(atomic_energies={"H": 0.0}), "no value for"),
     (dict(species=["H", "H"]), "distinct")],
)  # fmt: skip
def test_bad_hyperparameters_are_clear_errors(kwargs, match):
    options = {"species": ["H", "C"], **kwargs}
    with pytest.raises(ValueError, match=match):
        ictp.ICTP(**options)


def test_unknown_element_names_it(molecule):
    model = small_model(["H", "C", "O"])
    with pytest.raises(ValueError, match=r"\['N'\] not in the model's species"):
        model.predict(molecule)


def test_stress_of_a_molecule_is_an_error(molecule):
    with pytest.raises(ValueError, match="periodic in all three directions"):
        small_model().predict(molecule, stress=True)


def test_a_non_finite_output_is_an_error_naming_the_structure(molecule):
    model = small_model()
    frames = [molecule, molecule.copy()]
    assert torch.isfinite(model.predict(frames)[keys.FORCES]).all()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))  # as after a diverged training run
    with pytest.raises(ValueError, match=r"NaN or inf for structure\(s\) \[0, 1\] of this batch.*diverged"):
        model.predict(frames)


def test_reference_structures(tiny_model, reference):
    """The model still gives the numbers stored in tests/reference/structures.yaml (ASE and LAMMPS check the same)."""
    for entry in reference["structures"]:
        periodic = "stress" in entry["results"]
        out = tiny_model.predict(entry["atoms"], stress=periodic)
        got = {keys.ENERGY: out[keys.ENERGY][0], keys.ENERGIES: out[keys.ENERGIES], keys.FORCES: out[keys.FORCES]}
        if periodic:
            got[keys.STRESS] = out[keys.STRESS][0]
        assert_results_close(got, entry["results"], rtol=1e-12)
