"""ictp-eval's refusals through the real command: nothing overwritten without --force, never an input,
every bad input one line ``ictp-eval: error: ...`` with exit status 2 (before the evaluation, where possible)."""

import os
import subprocess
import sys
from pathlib import Path

import ase.io
import pytest
import torch

import ictp
from ictp.deploy.export import export
from ictp.model import save_model

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_data):
    """model.pt (tiny, untrained, H C O), model.pth (it deployed) and t.xyz (3 labelled AcAc structures),
    and broken versions of them."""
    folder = tmp_path_factory.mktemp("eval")
    model = ictp.ICTP(["H", "C", "O"], r_max=3.0, num_channels=4, radial_mlp=[8], l_max_edge=1, correlation=2)
    save_model(model, folder / "model.pt")
    export(model, folder / "model.pth")
    frames = ase.io.read(shared_data / "AcAc" / "train_300K.xyz", index=":3")
    ase.io.write(folder / "t.xyz", frames)
    (folder / "truncated.pt").write_bytes((folder / "model.pt").read_bytes()[:5000])
    (folder / "deployed.pt").write_bytes((folder / "model.pth").read_bytes())
    (folder / "empty.xyz").write_text("")
    frames[1].positions[4] = frames[1].positions[0]
    ase.io.write(folder / "coincident.xyz", frames)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    save_model(model, folder / "nan.pt")
    return folder


def ictp_eval(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    command = [sys.executable, "-m", "ictp.evaluation.cli", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def assert_refused(result: subprocess.CompletedProcess, *fragments: str):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("ictp-eval: error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert "E RMSE" not in result.stdout  # refused before the evaluation


def test_csv_and_plots_never_replace_an_input_or_an_existing_file(files, tmp_path):
    data = files / "t.xyz"
    before = data.read_bytes()
    for output, force in [(data, []), (files / "model.pt", ["--force"])]:  # the ictp-eval model.pt t.xyz --csv t.xyz
        assert_refused(ictp_eval(files / "model.pt", data, "--csv", output, *force), f"{output} is also an input")
    assert data.read_bytes() == before
    (tmp_path / "e.csv").write_text("an earlier table")
    assert_refused(ictp_eval(files / "model.pt", data, "--csv", tmp_path / "e.csv"), "e.csv exists; pass --force")
    (tmp_path / "t_parity.png").write_text("an earlier plot")
    assert_refused(ictp_eval(files / "model.pt", data, "--plots", tmp_path), "t_parity.png exists; pass --force")
    assert (tmp_path / "e.csv").read_text() == "an earlier table"
    result = ictp_eval(files / "model.pt", data, "--csv", tmp_path / "e.csv", "--plots", tmp_path, "--force")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "e.csv").read_text().startswith("file,config_type") and (tmp_path / "t_parity.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "args, fragments",
    [(["{files}/model.pt", "{files}/t.xyz", "--csv", "{tmp}/missing/e.csv"], ["the folder", "missing of --csv", "create it first"]),
     (["{files}/model.pt", "{files}/t.xyz", "--batch-size", "0"], ["argument --batch-size: must be a positive integer, got '0'"]),
     (["{files}/truncated.pt", "{files}/t.xyz"], ["truncated.pt is not a readable ictp model file (corrupt, truncated"]),
     (["{files}/model.pth", "{files}/t.xyz"], ["model.pth is a deployed model (written by ictp-deploy)", "give the model.pt"]),
     (["{files}/deployed.pt", "{files}/t.xyz"], ["deployed.pt is a deployed model (written by ictp-deploy)"]),
     (["{files}/model.pt", "{files}/empty.xyz"], ["empty.xyz' holds no structures"]),
     (["{files}/model.pt", "{files}/coincident.xyz"], ["coincident.xyz, structure 1: atoms 0 and 4 are 0 Å apart"]),
     (["{files}/nan.pt", "{files}/t.xyz"], ["t.xyz, structure 0: the model predicts NaN or infinite energy and forces"])],
    ids=["csv-folder", "batch-size", "truncated-model", "deployed", "deployed-renamed", "empty-data", "coincident",
         "nan-model"],
)  # fmt: skip
def test_bad_inputs_are_one_line(files, tmp_path, args, fragments):
    result = ictp_eval(*[a.format(files=files, tmp=tmp_path) for a in args])
    if "--batch-size" in args:  # argparse's own error: the usage line, then one error line
        assert result.returncode == 2 and fragments[0] in result.stderr.strip().splitlines()[-1]
    else:
        assert_refused(result, *fragments)
