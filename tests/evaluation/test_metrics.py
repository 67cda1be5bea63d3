"""ictp-eval's numbers equal an independent computation on the same predictions; plots and CSV are written."""

import csv
import math

import ase.build
import ase.io
import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

import ictp
from ictp.evaluation import error_metrics, predict_configurations
from ictp.evaluation.cli import main
from ictp.data.extxyz import read_configurations
from ictp.model import save_model


@pytest.fixture(scope="module")
def model():
    return ictp.ICTP(["H", "C", "N", "O", "Si"], r_max=3.0, num_channels=4, l_max_edge=2, seed=2)


@pytest.fixture
def labelled_file(tmp_path, molecules):
    """Molecules of two config_types with perturbed labels, one without forces, and a periodic cell with stress."""
    rng = np.random.default_rng(0)
    frames = []
    for k, atoms in enumerate(molecules):
        atoms = atoms.copy()
        forces = None if k == 4 else rng.normal(size=(len(atoms), 3))
        atoms.calc = SinglePointCalculator(atoms, energy=float(rng.normal()), forces=forces)
        atoms.info["config_type"] = "even" if k % 2 == 0 else "odd"
        frames.append(atoms)
    cell = ase.build.bulk("Si", "diamond", a=5.43) * (1, 1, 2)
    cell.rattle(0.05, seed=1)
    cell.calc = SinglePointCalculator(cell, energy=-5.0, forces=rng.normal(size=(len(cell), 3)), stress=rng.normal(size=6) * 0.01)
    cell.info["config_type"] = "bulk"
    frames.append(cell)
    path = tmp_path / "labelled.xyz"
    ase.io.write(path, frames)
    return path


def test_metrics_equal_an_independent_computation(model, labelled_file):
    configurations = read_configurations(labelled_file)
    metrics = error_metrics(configurations, predict_configurations(model, configurations, batch_size=3))
    frames = ase.io.read(labelled_file, ":")
    d_e, d_e_atom, d_f, d_s = [], [], [], []
    for atoms in frames:
        out = model.predict(atoms, stress=bool(atoms.pbc.all()))
        d_e.append(float(out["energy"][0]) - atoms.get_potential_energy())
        d_e_atom.append(d_e[-1] / len(atoms))
        if "forces" in atoms.calc.results and atoms.calc.results["forces"] is not None:
            d_f.extend((out["forces"].numpy() - atoms.get_forces()).ravel())
        if atoms.pbc.all():
            d_s.extend((out["stress"][0].numpy() - atoms.get_stress(voigt=False)).ravel())
    rmse = lambda x: math.sqrt(np.mean(np.square(x)))  # noqa: E731
    mae = lambda x: float(np.mean(np.abs(x)))  # noqa: E731
    expected = {
        "e_rmse": 1e3 * rmse(d_e), "e_mae": 1e3 * mae(d_e), "e_atom_rmse": 1e3 * rmse(d_e_atom),
        "e_atom_mae": 1e3 * mae(d_e_atom), "f_rmse": 1e3 * rmse(d_f), "f_mae": 1e3 * mae(d_f),
        "s_rmse": 160.21766208 * rmse(d_s), "s_mae": 160.21766208 * mae(d_s),
    }  # fmt: skip
    assert len(d_f) == 3 * (sum(len(a) for a in frames) - len(frames[4]))
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-9), key


def test_cli_prints_groups_and_writes_csv_and_plots(model, labelled_file, tmp_path, capsys):
    save_model(model, tmp_path / "model.pt")
    code = main([str(tmp_path / "model.pt"), str(labelled_file), "--csv", str(tmp_path / "e.csv"), "--plots", str(tmp_path / "plots")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "E/atom RMSE (meV/atom)" in printed and "stress RMSE (GPa)" in printed
    with open(tmp_path / "e.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["config_type"] for r in rows] == ["all", "bulk", "even", "odd"]
    assert [int(r["structures"]) for r in rows] == [6, 1, 3, 2]
    assert math.isnan(float(rows[2]["s_rmse"])) and not math.isnan(float(rows[1]["s_rmse"]))
    assert (tmp_path / "plots" / "labelled_parity.png").stat().st_size > 10_000


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "missing.pt"), str(tmp_path / "x.xyz")]) == 2
    assert "ictp-eval: error:" in capsys.readouterr().err
