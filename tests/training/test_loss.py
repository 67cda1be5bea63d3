"""The training loss, summed and averaged, against an independent numpy computation."""

import numpy as np
import pytest
import torch

import ictp
from ictp import keys
from ictp.data.dataset import GraphDataset
from ictp.data.extxyz import read_configurations
from ictp.model import evaluate_batch
from ictp.training.loss import label_counts, reduce_terms, squared_errors, weighted_loss

SPECIES = [13, 22]


def predict_batch(model, batch):
    return {k: v.detach() for k, v in evaluate_batch(model, batch, virial=True).items()}


@pytest.fixture
def labelled(shared_data):
    """Five TiAl cells of 2, 2, 2, 54 and 128 atoms; one lacks its energy, one its forces, one its stress."""
    path = shared_data / "TiAl_ace" / "TiAl.xyz"
    configs = read_configurations(path, index=":3") + read_configurations(path, index="-2:")
    configs[1].energy = None
    configs[2].forces = None
    configs[3].stress = None
    model = ictp.ICTP(["Al", "Ti"], num_channels=4, radial_mlp=(8,), l_max_node=1, l_max_edge=1, correlation=2)
    batch = GraphDataset(configs, SPECIES, model.r_max).batch(range(5))
    return configs, model, batch, predict_batch(model, batch)


def numpy_errors(configs, prediction, ptr):
    """Per structure: N and, where labelled, ΔE (eV), ΔF ``[N, 3]`` (eV/Å) and the six Voigt components of ΔW (eV)."""
    out = []
    for b, c in enumerate(configs):
        d_e = prediction[keys.ENERGY][b].item() - c.energy if c.energy is not None else None
        d_f = prediction[keys.FORCES][ptr[b] : ptr[b + 1]].numpy() - c.forces if c.forces is not None else None
        d_w = None
        if c.stress is not None:
            w = prediction[keys.VIRIAL][b].numpy() + c.stress * c.atoms.get_volume()
            w = 0.5 * (w + w.T)
            d_w = np.array([w[i, j] for i, j in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]])
        out.append((len(c.atoms), d_e, d_f, d_w))
    return out


def terms_of(terms):
    return [terms[name].item() for name in ("energy", "forces", "virials")]


def test_summed_loss_matches_numpy_and_skips_missing_labels(labelled):
    configs, _, batch, prediction = labelled
    errors = numpy_errors(configs, prediction, batch[keys.PTR].numpy())
    energy = sum(d_e**2 / n for n, d_e, _, _ in errors if d_e is not None)
    forces = sum(np.sum(d_f**2) for _, _, d_f, _ in errors if d_f is not None)
    virials = sum(np.sum(d_w**2) / n for n, _, _, d_w in errors if d_w is not None)
    total, terms = weighted_loss(prediction, batch, 1.0, 10.0, 0.5)
    np.testing.assert_allclose(terms_of(terms), [energy, forces, virials], rtol=1e-12)
    np.testing.assert_allclose(total.item(), energy + 10 * forces + 0.5 * virials, rtol=1e-12)


def test_mean_loss_averages_per_atom_energies_and_components(labelled):
    configs, _, batch, prediction = labelled
    errors = numpy_errors(configs, prediction, batch[keys.PTR].numpy())
    energy = np.mean([(d_e / n) ** 2 for n, d_e, _, _ in errors if d_e is not None])  # 4 structures
    forces = np.mean(np.concatenate([d_f.ravel() ** 2 for _, _, d_f, _ in errors if d_f is not None]))
    virials = np.mean(np.concatenate([(d_w / n) ** 2 for n, _, _, d_w in errors if d_w is not None]))
    total, terms = weighted_loss(prediction, batch, 1.0, 10.0, 0.5, reduction="mean")
    np.testing.assert_allclose(terms_of(terms), [energy, forces, virials], rtol=1e-12)
    np.testing.assert_allclose(total.item(), energy + 10 * forces + 0.5 * virials, rtol=1e-12)


def test_mean_over_parts_of_a_batch_equals_the_mean_of_the_whole(labelled):
    """What data-parallel training and validation over several batches rely on."""
    configs, model, batch, prediction = labelled
    whole, _ = weighted_loss(prediction, batch, 1.0, 10.0, 0.5, reduction="mean")
    parts = [GraphDataset(configs[k], SPECIES, model.r_max).batch(range(len(configs[k]))) for k in (slice(0, 2), slice(2, 5))]
    outputs = [predict_batch(model, part) for part in parts]
    counts = {name: sum(label_counts(part)[name] for part in parts) for name in ("energy", "forces", "virials")}
    summed = sum(weighted_loss(out, part, 1.0, 10.0, 0.5, "mean", counts)[0] for out, part in zip(outputs, parts))
    np.testing.assert_allclose(summed.item(), whole.item(), rtol=1e-12)
    sums = {name: sum(squared_errors(out, part, "mean")[name] for out, part in zip(outputs, parts)) for name in counts}
    np.testing.assert_allclose(reduce_terms(sums, (1.0, 10.0, 0.5), "mean", counts)[0].item(), whole.item(), rtol=1e-12)


def test_unknown_reduction_is_an_error(labelled):
    _, _, batch, prediction = labelled
    with pytest.raises(ValueError, match="reduction must be one of \\('mean', 'sum'\\), got 'average'"):
        weighted_loss(prediction, batch, 1.0, 1.0, 0.0, reduction="average")


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_perfect_prediction_has_zero_loss(shared_data, reduction):
    configs = read_configurations(shared_data / "TiAl_ace" / "TiAl.xyz", index=":3")
    model = ictp.ICTP(["Al", "Ti"], num_channels=4, radial_mlp=(8,), l_max_node=1, l_max_edge=1, correlation=2)
    dataset = GraphDataset(configs, SPECIES, model.r_max)
    prediction = predict_batch(model, dataset.batch([0, 1, 2]))
    for k, c in enumerate(configs):  # make the labels equal to the prediction
        start = sum(len(x.atoms) for x in configs[:k])
        c.energy = prediction[keys.ENERGY][k].item()
        c.forces = prediction[keys.FORCES][start : start + len(c.atoms)].numpy()
        c.stress = -prediction[keys.VIRIAL][k].numpy() / c.atoms.get_volume()
    batch = GraphDataset(configs, SPECIES, model.r_max).batch([0, 1, 2])
    total, _ = weighted_loss(prediction, batch, 1.0, 10.0, 1.0, reduction)
    assert total.item() < 1e-20
    assert torch.isfinite(total)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_config_type_weights_multiply_each_structures_errors(labelled, reduction):
    """Each term of a weighted batch is the weighted sum of its structures' terms; ``weighted=False`` ignores them."""
    configs, model, _, _ = labelled
    for config, config_type in zip(configs, ["bulk", "surface", "bulk", "surface", "vacancy"]):
        config.config_type = config_type
    weights = {"surface": 5.0, "vacancy": 0.5}
    batch = GraphDataset(configs, SPECIES, model.r_max, weights).batch(range(5))
    np.testing.assert_array_equal(batch[keys.WEIGHT].numpy(), [1.0, 5.0, 1.0, 5.0, 0.5])
    prediction = predict_batch(model, batch)
    singles = [GraphDataset([c], SPECIES, model.r_max).batch([0]) for c in configs]
    per_structure = [terms_of(squared_errors(predict_batch(model, single), single, reduction)) for single in singles]
    expected = sum(weights.get(c.config_type, 1.0) * np.array(terms) for c, terms in zip(configs, per_structure))
    assert all(value > 0 for value in expected)  # every term has labelled structures of weight != 1
    np.testing.assert_allclose(terms_of(squared_errors(prediction, batch, reduction)), expected, rtol=1e-10)
    unweighted = np.sum(per_structure, axis=0)
    np.testing.assert_allclose(terms_of(squared_errors(prediction, batch, reduction, weighted=False)), unweighted, rtol=1e-10)
