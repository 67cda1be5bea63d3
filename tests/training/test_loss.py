"""The training loss against an independent numpy computation."""

import numpy as np
import torch

import ictp
from ictp import keys
from ictp.data.dataset import GraphDataset
from ictp.data.extxyz import read_configurations
from ictp.model import evaluate_batch
from ictp.training.loss import weighted_loss


def predict_batch(model, batch):
    return {k: v.detach() for k, v in evaluate_batch(model, batch, virial=True).items()}


def test_loss_matches_numpy_and_skips_missing_labels(shared_data):
    configs = read_configurations(shared_data / "TiAl_ace" / "TiAl.xyz", index=":5")
    configs[1].energy = None
    configs[2].forces = None
    configs[3].stress = None
    model = ictp.ICTP(["Al", "Ti"], num_channels=4, radial_mlp=(8,), l_max_node=1, l_max_edge=1, correlation=2)
    batch = GraphDataset(configs, [13, 22], model.r_max).batch(range(5))
    prediction = predict_batch(model, batch)
    total, terms = weighted_loss(prediction, batch, 1.0, 10.0, 0.5)

    energy, forces, virials = 0.0, 0.0, 0.0
    ptr = batch[keys.PTR].numpy()
    for b, c in enumerate(configs):
        n = len(c.atoms)
        if c.energy is not None:
            energy += (prediction[keys.ENERGY][b].item() - c.energy) ** 2 / n
        if c.forces is not None:
            forces += np.sum((prediction[keys.FORCES][ptr[b] : ptr[b + 1]].numpy() - c.forces) ** 2)
        if c.stress is not None:
            w = prediction[keys.VIRIAL][b].numpy() + c.stress * c.atoms.get_volume()
            w = 0.5 * (w + w.T)
            virials += sum(w[i, j] ** 2 for i, j in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]) / n
    np.testing.assert_allclose([terms["energy"].item(), terms["forces"].item(), terms["virials"].item()], [energy, forces, virials], rtol=1e-12)
    np.testing.assert_allclose(total.item(), energy + 10 * forces + 0.5 * virials, rtol=1e-12)


def test_perfect_prediction_has_zero_loss(shared_data):
    configs = read_configurations(shared_data / "TiAl_ace" / "TiAl.xyz", index=":3")
    model = ictp.ICTP(["Al", "Ti"], num_channels=4, radial_mlp=(8,), l_max_node=1, l_max_edge=1, correlation=2)
    dataset = GraphDataset(configs, [13, 22], model.r_max)
    prediction = predict_batch(model, dataset.batch([0, 1, 2]))
    for k, c in enumerate(configs):  # make the labels equal to the prediction
        start = sum(len(x.atoms) for x in configs[:k])
        c.energy = prediction[keys.ENERGY][k].item()
        c.forces = prediction[keys.FORCES][start : start + len(c.atoms)].numpy()
        c.stress = -prediction[keys.VIRIAL][k].numpy() / c.atoms.get_volume()
    batch = GraphDataset(configs, [13, 22], model.r_max).batch([0, 1, 2])
    total, _ = weighted_loss(prediction, batch, 1.0, 10.0, 1.0)
    assert total.item() < 1e-20
    assert torch.isfinite(total)
