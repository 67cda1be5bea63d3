"""Compiled training steps (``compile: true``) give the eager step's energies, forces, virials and gradients.

The tests compile with torch.compile's ``aot_eager`` backend: the same graph capture (dynamic shapes,
``torch.func.vjp`` inside) and the same AOTAutograd derivative, without Inductor's code generation, so
that the suite compiles no second model (the deploy tests compile the one). Inductor itself is checked
by ``benchmarks/bench_training.py``, which compares its step with the eager one.
"""

import numpy as np
import pytest
import torch
from ase.build import bulk

from ictp import ICTP, keys
from ictp.data.graph import structures_to_batch
from ictp.model import evaluate_batch
from ictp.training import compiled as compiled_module
from ictp.training.compiled import CompiledForces


@pytest.fixture(autouse=True)
def aot_eager(monkeypatch):
    monkeypatch.setattr(compiled_module, "BACKEND", "aot_eager")


def silicon_cells(count, seed):
    """Rattled, sheared silicon cells of 8 to 16 atoms: periodic, so with virials."""
    rng = np.random.default_rng(seed)
    cells = []
    for k in range(count):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((1 + k % 2, 1, 1))
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + 0.03 * rng.standard_normal((3, 3))), scale_atoms=True)
        atoms.positions += 0.1 * rng.standard_normal(atoms.positions.shape)
        cells.append(atoms)
    return cells


def loss_and_gradients(model, out):
    """A loss on energies, forces and virials like training's, and its gradient per parameter."""
    loss = (out[keys.ENERGY] ** 2).sum() + (out[keys.FORCES] ** 2).sum() + (out[keys.VIRIAL] ** 2).sum()
    return loss, torch.autograd.grad(loss, list(model.parameters()))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_step_equals_the_eager_step_on_batches_of_any_size(dtype):
    model = ICTP(["Si"], r_max=4.0, num_channels=4, radial_mlp=[8], l_max_node=1, l_max_edge=2, correlation=2,
                 dtype=dtype, seed=3)  # fmt: skip
    compiled = CompiledForces(model)
    tolerance = 1e-11 if dtype == "float64" else 2e-4
    for count, seed in [(3, 0), (2, 1), (4, 2)]:  # three batches: other numbers of structures, atoms and edges
        batch = structures_to_batch(silicon_cells(count, seed), [14], model.r_max)
        reference = evaluate_batch(model, batch, virial=True, create_graph=True)
        out = compiled(batch, virial=True)
        for key in (keys.ENERGY, keys.ENERGIES, keys.FORCES, keys.VIRIAL):
            assert out[key].dtype == model.dtype
            scale = reference[key].abs().max().item()
            assert (out[key] - reference[key]).abs().max().item() <= tolerance * scale, key
        loss, gradients = loss_and_gradients(model, out)
        reference_loss, reference_gradients = loss_and_gradients(model, reference)
        assert loss.item() == pytest.approx(reference_loss.item(), rel=tolerance)
        for (name, _), g, r in zip(model.named_parameters(), gradients, reference_gradients):
            assert (g - r).abs().max().item() <= tolerance * max(r.abs().max().item(), 1e-12), name
        with torch.no_grad():  # the weights change between steps: the compiled function must see the new ones
            for p in model.parameters():
                p.mul_(1.1)


def test_a_failing_compiler_is_named_with_the_way_out(monkeypatch):
    def broken(graph, example_inputs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(compiled_module, "BACKEND", broken)
    model = ICTP(["Si"], r_max=4.0, num_channels=4, radial_mlp=[8], l_max_node=0, l_max_edge=1, correlation=1)
    batch = structures_to_batch(silicon_cells(1, 0), [14], model.r_max)
    with pytest.raises(RuntimeError, match=r"torch.compile could not compile .*no C\+\+ compiler.*compile=false"):
        CompiledForces(model)(batch, virial=True)
