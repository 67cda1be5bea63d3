"""Scaling the atomic basis before training: each layer's A gets the target RMS, layer after layer."""

import copy
import math

import ase
import pytest
import torch

from ictp.data.dataset import GraphDataset
from ictp.data.extxyz import Configuration
from ictp.model import evaluate_batch
from ictp.training import basis_init
from ictp.training.distributed import Distributed


def _basis_rms(model, dataset, count):
    """RMS of every layer's atomic basis A over the first ``count`` structures, in one batch."""
    squares = []
    handles = [
        block.register_forward_hook(lambda module, inputs, outputs: squares.append(outputs[0].pow(2).mean().item()))
        for block in model.interactions
    ]
    with torch.no_grad():
        evaluate_batch(model, dataset.batch(range(count)))
    for handle in handles:
        handle.remove()
    return [math.sqrt(s) for s in squares]


@pytest.fixture
def fragments(tiny_model, molecules):
    """3BPA molecules and fragments of them, 12 structures of 9–27 atoms."""
    configs = [Configuration(atoms[:keep]) for atoms in molecules[:4] for keep in (27, 16, 9)]
    return GraphDataset(configs, tiny_model.atomic_numbers.tolist(), tiny_model.r_max)


def test_every_layer_gets_the_target_rms(tiny_model, fragments):
    model = copy.deepcopy(tiny_model)
    before = _basis_rms(model, fragments, len(fragments))
    assert max(before) < 0.3  # the default initialisation: far from the target
    factors = basis_init.scale_atomic_basis(model, fragments, 0.7, batch_size=5, group=Distributed("cpu"))
    after = _basis_rms(model, fragments, len(fragments))
    assert after == pytest.approx([0.7] * len(model.interactions), rel=1e-12)
    assert factors[0] == pytest.approx(0.7 / before[0], rel=1e-12)  # the first layer does not depend on the others
    assert all(f > 1 for f in factors)


def test_the_factors_do_not_depend_on_the_batches(tiny_model, fragments):
    factors = [
        basis_init.scale_atomic_basis(copy.deepcopy(tiny_model), fragments, 0.1, batch_size=b, group=Distributed("cpu"))
        for b in (1, 5, 12)
    ]
    assert factors[1] == pytest.approx(factors[0], rel=1e-12)
    assert factors[2] == pytest.approx(factors[0], rel=1e-12)


def test_only_the_first_structures_are_measured(tiny_model, fragments, monkeypatch):
    monkeypatch.setattr(basis_init, "STRUCTURES", 4)
    model = copy.deepcopy(tiny_model)
    basis_init.scale_atomic_basis(model, fragments, 0.2, batch_size=3, group=Distributed("cpu"))
    assert _basis_rms(model, fragments, 4) == pytest.approx([0.2] * len(model.interactions), rel=1e-12)
    assert _basis_rms(model, fragments, len(fragments))[0] != pytest.approx(0.2, rel=1e-3)


def test_structures_without_neighbours_are_an_error(tiny_model):
    far_apart = [Configuration(ase.Atoms("HO", positions=[[0, 0, 0], [0, 0, 10.0]])) for _ in range(3)]
    dataset = GraphDataset(far_apart, tiny_model.atomic_numbers.tolist(), tiny_model.r_max)
    with pytest.raises(ValueError, match="neighbours within r_max.*init_basis_rms: null"):
        basis_init.scale_atomic_basis(copy.deepcopy(tiny_model), dataset, 0.1, batch_size=2, group=Distributed("cpu"))
