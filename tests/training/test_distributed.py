"""Two processes (torchrun, gloo on CPU) sharing each global batch give the losses of one process."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import ase.io
import pytest
import yaml

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


def _metrics(run_dir):
    with open(run_dir / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def test_two_processes_match_one(tmp_path, shared_data):
    frames = ase.io.read(shared_data / "AcAc" / "train_300K.xyz", index=":14")
    ase.io.write(tmp_path / "train.xyz", frames)
    config = dict(
        train_file=str(tmp_path / "train.xyz"), valid_count=4, num_channels=4, radial_mlp=[8], l_max_node=1,
        l_max_edge=1, correlation=2, max_num_epochs=3, E0s="average", batch_size=5, valid_batch_size=1,
    )  # fmt: skip
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR), "OMP_NUM_THREADS": "1"}
    train = ["-m", "ictp.training.cli", "--config", str(tmp_path / "run.yaml"), "--no-progress"]
    one = subprocess.run([sys.executable, *train, f"run_dir={tmp_path / 'one'}"], env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two = subprocess.run([*launcher, *train, f"run_dir={tmp_path / 'two'}"], env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stdout + two.stderr
    assert "2 process(es)" in (tmp_path / "two" / "train.log").read_text()
    a, b = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        for key in ("train_loss", "valid_loss", "valid_rmse_f_meV_per_A"):
            assert float(y[key]) == pytest.approx(float(x[key]), rel=1e-9), key
