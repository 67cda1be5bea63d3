"""Deployed files of both formats: equal to the eager model, self-contained, checked, versioned; ``ictp-deploy``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ictp
from ase import Atoms

from ictp import keys
from ictp.deploy import DeployedFileError, load_deployed
from ictp.deploy import export as export_module
from ictp.deploy.export import export
from ictp.deploy.cli import main
from ictp.model import save_model

METADATA_KEYS = {
    "format_version", "format", "ictp_version", "torch_version", "species", "atomic_numbers", "r_max", "num_layers",
    "dtype", "units", "atomic_energies", "hyperparameters", "exchange", "feature_shapes", "reference",
}  # fmt: skip

# Runs in a fresh interpreter that imports torch only: a brute-force neighbour list over
# enough lattice translations, then the contract's forward, on the metadata's reference structures.
TORCH_ONLY = r"""
import itertools, json, sys
import torch

extra = {"metadata.json": ""}
module = torch.jit.load(sys.argv[1], _extra_files=extra)
meta = json.loads(extra["metadata.json"])
index = {z: k for k, z in enumerate(meta["atomic_numbers"])}
results = []
for ref in meta["reference"]:
    positions = torch.tensor(ref["positions"], dtype=torch.float64)
    cell = torch.tensor(ref["cell"], dtype=torch.float64)
    if all(ref["pbc"]):
        heights = torch.linalg.det(cell).abs() / torch.linalg.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]).norm(dim=1)
        reach = [int(meta["r_max"] / h) + 2 for h in heights.tolist()]
        images = list(itertools.product(*[range(-m, m + 1) for m in reach]))
        shifts = torch.tensor(images, dtype=torch.float64) @ cell
    else:
        shifts = torch.zeros(1, 3, dtype=torch.float64)
    vectors = positions[None, :, None] - positions[None, None, :] - shifts[:, None, None]  # [S, i, j, 3]
    distances = vectors.norm(dim=-1)
    s, i, j = torch.nonzero((distances < meta["r_max"]) & (distances > 0), as_tuple=True)
    species = torch.tensor([index[z] for z in ref["numbers"]])
    with torch.jit.optimized_execution(False):
        out = module(species, torch.stack([i, j]), vectors[s, i, j], len(species), False, False)
    results.append({"energy": out["energy"].item(), "forces": out["forces"].tolist()})
assert not any(name.split(".")[0] in ("ictp", "ase", "vesin") for name in sys.modules)
print(json.dumps(results))
"""


def relative_error(value, ref) -> float:
    ref = np.asarray(ref)
    return float(np.abs(np.asarray(value) - ref).max() / max(np.abs(ref).max(), 1.0))


@pytest.mark.parametrize("name", ["molecule", "triclinic_cell", "orthorhombic_cell", "supercell"])
def test_deployed_file_equals_eager_model(tiny_model, any_deployed_file, name, request):
    """Sizes the compiled package was never traced with (it was traced on 5 atoms)."""
    atoms = request.getfixturevalue("molecule" if name == "molecule" else "triclinic_cell").copy()
    if name == "orthorhombic_cell":
        atoms.set_cell(np.diag([4.4, 4.3, 4.5]), scale_atoms=True)
    if name == "supercell":
        atoms = atoms.repeat((2, 3, 1))
    periodic = bool(atoms.pbc.all())
    ref = tiny_model.predict(atoms, stress=periodic)
    atoms.calc = ictp.ICTPCalculator(any_deployed_file)
    assert relative_error(atoms.get_potential_energy(), ref[keys.ENERGY][0]) < 1e-10
    assert relative_error(atoms.get_potential_energies(), ref[keys.ENERGIES]) < 1e-10
    assert relative_error(atoms.get_forces(), ref[keys.FORCES]) < 1e-10
    if periodic:
        assert relative_error(atoms.get_stress(voigt=False), ref[keys.STRESS][0]) < 1e-10


def test_metadata(tiny_model, any_deployed_file):
    _, meta = load_deployed(any_deployed_file)
    compiled = any_deployed_file.suffix == ".pt2"
    assert set(meta) == METADATA_KEYS | ({"compiled"} if compiled else set())
    assert meta["format"] == ("aotinductor" if compiled else "torchscript")
    if compiled:
        assert meta["compiled"]["torch_version"] == torch.__version__ and meta["compiled"]["device"] == "cpu"
    assert meta["format_version"] == 2 and meta["ictp_version"] == ictp.__version__
    assert meta["species"] == ["H", "C", "N", "O", "Si"] and meta["atomic_numbers"] == [1, 6, 7, 8, 14]
    assert meta["r_max"] == 3.0 and meta["num_layers"] == 2 and meta["dtype"] == "float64"
    assert meta["units"] == {"energy": "eV", "length": "Angstrom"}
    assert meta["atomic_energies"]["Si"] == -7869.2
    assert meta["hyperparameters"] == tiny_model.hyperparameters
    molecule, periodic = meta["reference"]
    assert not any(molecule["pbc"]) and "stress" not in molecule
    assert all(periodic["pbc"]) and np.abs(np.asarray(periodic["cell"]) - np.diag(np.diag(periodic["cell"]))).max() > 0
    assert set(molecule["numbers"]) == set(periodic["numbers"]) == set(meta["atomic_numbers"])
    for entry in meta["reference"]:
        atoms = Atoms(numbers=entry["numbers"], positions=entry["positions"], cell=entry["cell"], pbc=entry["pbc"])
        ref = tiny_model.predict(atoms, stress=all(entry["pbc"]))
        assert relative_error(entry["energy"], ref[keys.ENERGY].item()) < 1e-14
        assert relative_error(entry["forces"], ref[keys.FORCES].numpy()) < 1e-14
        graph = entry["graph"]  # what C++ hosts check the file with, without a neighbour list
        assert len(graph["species"]) == len(atoms) and np.asarray(graph["edge_vectors"]).shape == (len(graph["edge_index"][0]), 3)


def test_loads_in_a_python_that_imports_only_torch(deployed_file):
    result = subprocess.run([sys.executable, "-c", TORCH_ONLY, str(deployed_file)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ""}, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    _, meta = load_deployed(deployed_file)
    for got, ref in zip(json.loads(result.stdout), meta["reference"]):
        assert relative_error(got["energy"], ref["energy"]) < 1e-10
        assert relative_error(got["forces"], ref["forces"]) < 1e-10


def test_float32_export(tiny_model, deployed_file, triclinic_cell, tmp_path):
    meta = export(tiny_model, tmp_path / "model32.pth", dtype="float32")
    assert meta["dtype"] == meta["hyperparameters"]["dtype"] == "float32"
    assert tiny_model.dtype == torch.float64  # the exported copy was cast, not the model
    calc32, calc64 = ictp.ICTPCalculator(tmp_path / "model32.pth"), ictp.ICTPCalculator(deployed_file)
    default_dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    e32, f32 = calc32.get_potential_energy(triclinic_cell), calc32.get_forces(triclinic_cell)
    e64, f64 = calc64.get_potential_energy(triclinic_cell), calc64.get_forces(triclinic_cell)
    assert (torch.get_default_dtype(), torch.get_num_threads()) == (default_dtype, threads)
    assert 0 < relative_error(e32, e64) < 1e-6
    assert 0 < np.abs(f32 - f64).max() / np.abs(f64).max() < 1e-5


def test_failed_check_leaves_no_file(tiny_model, tmp_path, monkeypatch):
    real_run = export_module.run

    def wrong_energy(*args):
        return {**real_run(*args), keys.ENERGY: torch.tensor(1e9, dtype=torch.float64)}

    monkeypatch.setattr(export_module, "run", wrong_energy)
    with pytest.raises(RuntimeError, match="structure 0 energy: relative error"):
        export(tiny_model, tmp_path / "model.pth")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_truncated_and_foreign_files_are_clear_errors(deployed_file, tiny_model, tmp_path):
    data = deployed_file.read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pth").write_bytes(b"not a model" * 100)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "pickle.pth")
    for name in ["truncated.pth", "garbage.pth", "pickle.pth"]:
        with pytest.raises(DeployedFileError, match=name):
            load_deployed(tmp_path / name)
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "other.pth")
    with pytest.raises(DeployedFileError, match="no valid metadata.json"):
        load_deployed(tmp_path / "other.pth")


def test_newer_format_version_is_a_clear_error(deployed_file, tmp_path):
    module, meta = load_deployed(deployed_file)
    torch.jit.save(module, tmp_path / "new.pth", _extra_files={"metadata.json": json.dumps({**meta, "format_version": 7})})
    with pytest.raises(DeployedFileError, match="format version 7.*format version 2"):
        load_deployed(tmp_path / "new.pth")


def test_cli_export_overwrite_and_info(tiny_model, tmp_path, capsys):
    save_model(tiny_model, tmp_path / "model.pt")
    out = tmp_path / "model.pth"
    assert main([str(tmp_path / "model.pt"), str(out)]) == 0
    written = out.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "model.pt"), str(out), "--dtype", "float32"])
    assert exit_info.value.code == 2 and "--force" in capsys.readouterr().err
    assert out.read_bytes() == written
    assert main([str(tmp_path / "model.pt"), str(out), "--dtype", "float32", "--force"]) == 0
    capsys.readouterr()
    assert main(["--info", str(out)]) == 0
    info = capsys.readouterr().out
    for text in ["format version 2", "H C N O Si", "r_max           3.0 Angstrom", "float32", "Si -7869.2 ", "2 structures"]:
        assert text in info


@pytest.mark.parametrize(
    "argv, culprit",
    [(["--info", "{dir}/model.pt"], "model.pt"), (["{dir}/broken.pt", "{dir}/out.pth"], "broken.pt"),
     (["--info", "{dir}/missing.pth"], "missing.pth")],
)  # fmt: skip
def test_cli_reports_bad_files_without_traceback(tiny_model, tmp_path, capsys, argv, culprit):
    save_model(tiny_model, tmp_path / "model.pt")
    (tmp_path / "broken.pt").write_bytes((tmp_path / "model.pt").read_bytes()[:500])
    with pytest.raises(SystemExit) as exit_info:
        main([a.format(dir=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert culprit in err


def test_cli_never_writes_over_its_input_and_names_a_deployed_input(tiny_model, deployed_file, tmp_path):
    """Through the real command: ``ictp-deploy model.pt model.pt --force`` and a deployed file given as the model."""
    save_model(tiny_model, tmp_path / "model.pt")
    before = (tmp_path / "model.pt").read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "python")}
    cases = [
        ([tmp_path / "model.pt", tmp_path / "model.pt", "--force", "--format", "torchscript"], "is also an input"),
        ([tmp_path / "model.pt", f"{tmp_path}/./model.pt", "--force", "--format", "torchscript"], "is also an input"),
        ([deployed_file, tmp_path / "out.pth"], "is a deployed model (written by ictp-deploy), not a training model"),
    ]
    for args, message in cases:
        result = subprocess.run([sys.executable, "-m", "ictp.deploy.cli", *map(str, args)], env=env,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "model.pt").read_bytes() == before and not (tmp_path / "out.pth").exists()
