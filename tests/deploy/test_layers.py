"""Layer by layer with exchanged ghost features (what LAMMPS ranks do) equals the whole model.

Ranks are emulated here: the atoms of a periodic cell are dealt out to slabs; each rank
keeps the edges into its atoms, its senders outside become ghost nodes (one per atom and
periodic image), ghost features come from their owners, ghost gradients go back to them.
"""

import copy

import ase.build
import numpy as np
import pytest
import torch

import ictp
from ictp import keys
from ictp.data.graph import edge_vectors, structures_to_batch
from ictp.deploy import DeployedModel
from ictp.deploy.export import load_deployed, run
from ictp.deploy.layers import LayerFunctions, feature_shapes


class Rank:
    """One rank's graph: local atoms, ghost nodes (atom, image) and the edges into its atoms."""

    def __init__(self, owned, receivers, senders, shifts, vectors):
        self.local = np.flatnonzero(owned)
        position = {atom: k for k, atom in enumerate(self.local)}
        keep = owned[receivers]
        ghosts, node_of_sender = {}, []
        for j, shift in zip(senders[keep], shifts[keep]):
            key = (int(j), tuple(np.round(shift, 6)))
            if owned[j] and not np.any(shift):
                node_of_sender.append(position[j])
            else:
                node_of_sender.append(len(self.local) + ghosts.setdefault(key, len(ghosts)))
        self.ghost_atoms = np.array([atom for atom, _ in ghosts], dtype=np.int64)
        self.edge_index = torch.tensor(np.stack([[position[i] for i in receivers[keep]], node_of_sender]), dtype=torch.long).reshape(2, -1)
        self.vectors = vectors[torch.as_tensor(keep)]
        self.atoms_of_nodes = np.concatenate([self.local, self.ghost_atoms])


def layer_by_layer(model, atoms, num_ranks, functions=None):
    """Energies, forces, virial and per-atom virials of ``atoms`` from the layer functions (default:
    :class:`LayerFunctions` of ``model``; or a deployed file's) on emulated ranks."""
    functions = functions or LayerFunctions(model)
    graph = structures_to_batch([atoms], model.atomic_numbers.tolist(), model.r_max)
    species = graph[keys.SPECIES]
    receivers, senders = graph[keys.EDGE_INDEX].numpy()
    shifts, vectors = graph[keys.SHIFTS].numpy(), edge_vectors(graph)
    slab = np.floor(atoms.get_scaled_positions()[:, 0] * num_ranks).astype(int) % num_ranks
    ranks = [Rank(slab == r, receivers, senders, shifts, vectors) for r in range(num_ranks)]
    n, shapes, dtype = len(atoms), feature_shapes(model), model.dtype

    def split(values, rank):  # per-atom rows -> (local, ghost) rows of a rank
        return values[torch.as_tensor(rank.local)], values[torch.as_tensor(rank.ghost_atoms)]

    def inputs(rank, h):
        return (*split(h, rank), *split(species, rank), rank.edge_index, rank.vectors)

    features = [torch.zeros(n, *shapes[0], dtype=dtype)]  # layer 0 ignores them
    energies = torch.zeros(n, dtype=torch.float64)
    for t in range(model.num_layers - 1):  # forward: every rank, then the "exchange" (owners' rows)
        h = torch.zeros(n, *shapes[t + 1], dtype=dtype)
        for rank in ranks:
            new, e = functions.forward_layer(t, *inputs(rank, features[t]))
            h[torch.as_tensor(rank.local)] = new
            energies[torch.as_tensor(rank.local)] += e
        features.append(h)
    forces, atom_virial = torch.zeros(n, 3, dtype=torch.float64), torch.zeros(n, 3, 3, dtype=torch.float64)
    virial = torch.zeros(3, 3, dtype=torch.float64)
    grad = torch.zeros(n, *shapes[-1], dtype=dtype)  # unused by the last layer
    for t in reversed(range(model.num_layers)):
        previous = torch.zeros(n, *shapes[t], dtype=dtype)
        for rank in ranks:
            local_grad = grad[torch.as_tensor(rank.local)]
            e, g_local, g_ghost, f, w, aw = functions.vjp_layer(t, *inputs(rank, features[t]), local_grad)
            if t == model.num_layers - 1:
                energies[torch.as_tensor(rank.local)] += e
            nodes = torch.as_tensor(rank.atoms_of_nodes)  # ghost rows go to their owners ("reverse exchange")
            forces.index_add_(0, nodes, f)
            atom_virial.index_add_(0, nodes, aw)
            virial += w
            previous.index_add_(0, torch.as_tensor(rank.local), g_local)
            previous.index_add_(0, torch.as_tensor(rank.ghost_atoms), g_ghost)
        grad = previous
    return {keys.ENERGIES: energies, keys.FORCES: forces, keys.VIRIAL: virial, keys.ATOM_VIRIAL: atom_virial}


def whole_model(model, atoms):
    graph = structures_to_batch([atoms], model.atomic_numbers.tolist(), model.r_max)
    inputs = (graph[keys.SPECIES], graph[keys.EDGE_INDEX], edge_vectors(graph), len(atoms), True, True)
    return run(DeployedModel(model), *inputs)


def cell(repeat, triclinic=False):
    atoms = ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True)
    if triclinic:
        atoms.set_cell(atoms.cell.array @ np.array([[1.0, 0.1, 0.0], [0.05, 1.0, 0.1], [0.0, 0.12, 1.0]]), scale_atoms=True)
    atoms = atoms.repeat(repeat)
    atoms.rattle(0.05, seed=4)
    return atoms


@pytest.mark.parametrize("num_ranks", [1, 2, 3])
@pytest.mark.parametrize("case", ["2 layers, reference", "2 layers, fused", "3 layers, triclinic, small", "float32"])
def test_layer_exchange_equals_the_whole_model(case, num_ranks):
    hyper = dict(num_channels=4, r_max=3.0, l_max_node=1, l_max_edge=2, radial_mlp=(8,), seed=3)
    if "3 layers" in case:
        hyper.update(num_layers=3, l_max_node=2)
    if case == "float32":
        hyper.update(dtype=torch.float32)
    model = ictp.ICTP(["Si", "C"], **hyper)
    if "fused" in case:
        model = copy.deepcopy(model).set_kernels("fused")
    atoms = cell((1, 1, 1), triclinic=True) if "small" in case else cell((3, 1, 1))
    got, ref = layer_by_layer(model, atoms, num_ranks), whole_model(model, atoms)
    tolerance = 1e-5 if case == "float32" else 1e-11
    for key in (keys.ENERGIES, keys.FORCES, keys.VIRIAL, keys.ATOM_VIRIAL):
        error = (got[key] - ref[key]).abs().max() / ref[key].abs().max()
        assert error <= tolerance, (key, error.item())


@pytest.mark.parametrize("num_ranks", [1, 3])
def test_deployed_files_layer_by_layer_equal_the_model(tiny_model, any_deployed_file, num_ranks):
    """The layer functions of both formats: TorchScript methods and the package's compiled layer models."""
    functions, metadata = load_deployed(any_deployed_file)
    assert metadata["exchange"] == ["full", "layer"] and metadata["feature_shapes"] == feature_shapes(tiny_model)
    atoms = cell((3, 1, 1))
    got, ref = layer_by_layer(tiny_model, atoms, num_ranks, functions), whole_model(tiny_model, atoms)
    for key in (keys.ENERGIES, keys.FORCES, keys.VIRIAL, keys.ATOM_VIRIAL):
        assert (got[key] - ref[key]).abs().max() <= 1e-11 * ref[key].abs().max(), key


def test_feature_shapes(tiny_model):
    assert feature_shapes(tiny_model) == [[4, 1], [4, 4]]  # scalars into layer 0, l <= 1 into layer 1
