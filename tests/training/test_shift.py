"""The per-species shift refitted after every epoch: the least-squares optimum of the energy loss."""

import copy

import numpy as np
import pytest
import torch

from ictp.data.dataset import GraphDataset
from ictp.data.extxyz import Configuration
from ictp.model import evaluate_batch
from ictp.training.distributed import Distributed
from ictp.training.loss import squared_errors
from ictp.training.shift import refit_shift


def _dataset(model, molecules, offsets, drop_label=None, noise=0.0):
    """Fragments of 3BPA with varied composition and size, labelled with the model's own energy plus
    ``n · offsets`` (eV) plus Gaussian noise of ``noise`` eV."""
    numbers = model.atomic_numbers.tolist()
    configs, rng = [], np.random.default_rng(1)
    for k, atoms in enumerate(molecules):
        for keep in (27, 20, 14, 9):
            piece = atoms[: keep - k]
            configs.append(Configuration(piece))
    dataset = GraphDataset(configs, numbers, model.r_max)
    batch = dataset.batch(range(len(configs)))
    energies = evaluate_batch(model, batch)["energy"].detach().numpy()
    for config, energy in zip(configs, energies):
        counts = np.array([np.sum(config.atoms.numbers == z) for z in numbers])
        config.energy = float(energy + counts @ offsets + noise * rng.normal())
    if drop_label is not None:
        configs[drop_label].energy = None
    return GraphDataset(configs, numbers, model.r_max)


def _energy_loss(model, dataset, reduction):
    batch = dataset.batch(range(len(dataset)))
    return squared_errors(evaluate_batch(model, batch), batch, reduction)["energy"].item()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_refit_recovers_a_per_species_offset(tiny_model, molecules, reduction):
    model = copy.deepcopy(tiny_model)
    offsets = np.array([0.31, -0.52, 0.07, 1.4, 0.0])  # H C N O Si (eV); Si is absent from the data
    dataset = _dataset(model, molecules, offsets, drop_label=3)  # an unlabelled structure counts for nothing
    before = model.shift.clone()
    forces_before = evaluate_batch(model, dataset.batch(range(len(dataset))))["forces"].detach()
    delta = refit_shift(model, dataset, batch_size=3, reduction=reduction, group=Distributed("cpu"))
    np.testing.assert_allclose(delta.numpy(), offsets, atol=1e-9)  # absent species: no change (minimum norm)
    torch.testing.assert_close(model.shift - before, delta)
    assert _energy_loss(model, dataset, reduction) < 1e-20
    forces_after = evaluate_batch(model, dataset.batch(range(len(dataset))))["forces"].detach()
    torch.testing.assert_close(forces_after, forces_before, rtol=0, atol=1e-12)  # a constant: forces do not change


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_refit_minimises_the_energy_loss_of_one_composition(tiny_model, molecule, reduction):
    """One molecule's geometries: only the sum n·δ is determined; refit takes the least-squares value and
    the minimum-norm split over species, and a second refit changes nothing."""
    model = copy.deepcopy(tiny_model)
    numbers = model.atomic_numbers.tolist()
    rng = np.random.default_rng(0)
    configs = []
    for _ in range(6):
        atoms = molecule.copy()
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        configs.append(Configuration(atoms, energy=float(rng.normal(scale=2.0))))
    dataset = GraphDataset(configs, numbers, model.r_max)
    start = _energy_loss(model, dataset, reduction)
    delta = refit_shift(model, dataset, batch_size=4, reduction=reduction, group=Distributed("cpu"))
    counts = np.array([np.sum(molecule.numbers == z) for z in numbers], dtype=float)
    np.testing.assert_allclose(delta.numpy(), counts * (counts @ delta.numpy()) / (counts @ counts), atol=1e-12)
    best = _energy_loss(model, dataset, reduction)
    assert best < start
    for step in (1e-3, -1e-3):  # any other constant is worse
        model.shift += step
        assert _energy_loss(model, dataset, reduction) > best
        model.shift -= step
    again = refit_shift(model, dataset, batch_size=4, reduction=reduction, group=Distributed("cpu"))
    assert again.abs().max() < 1e-10


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_refit_weighs_structures_as_the_loss_does(tiny_model, molecules, reduction):
    """With noisy labels of structures of different sizes the optimum depends on the loss's weights
    (1/N² or 1/N): moving any species' shift away from the refitted one raises that loss."""
    model = copy.deepcopy(tiny_model)
    dataset = _dataset(model, molecules, np.zeros(5), noise=0.5)
    refit_shift(model, dataset, batch_size=5, reduction=reduction, group=Distributed("cpu"))
    best = _energy_loss(model, dataset, reduction)
    for species in range(4):  # H C N O
        for step in (1e-3, -1e-3):
            model.shift[species] += step
            assert _energy_loss(model, dataset, reduction) > best, (species, step)
            model.shift[species] -= step
