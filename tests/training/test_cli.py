"""ictp-train from the command line: config + overrides, saved config, clear errors, resume, Ctrl-C, test files."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import pytest
import yaml

from ictp.training.cli import main, resumed_config
from ictp.training.config import LEGACY_DEFAULTS

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"


@pytest.fixture
def run_yaml(tmp_path, shared_data):
    frames = ase.io.read(shared_data / "AcAc" / "train_300K.xyz", index=":12")
    ase.io.write(tmp_path / "train.xyz", frames[:10])
    ase.io.write(tmp_path / "test.xyz", frames[10:])
    config = dict(
        train_file=str(tmp_path / "train.xyz"), test_file=[str(tmp_path / "test.xyz")], valid_count=2,
        run_dir=str(tmp_path / "run"), num_channels=4, radial_mlp=[8], l_max_node=1, l_max_edge=1,
        correlation=2, max_num_epochs=2, E0s="average",
    )  # fmt: skip
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_writes_config_model_plots_and_test_errors(run_yaml, tmp_path, capsys):
    assert main(["--config", str(run_yaml), "seed=7", "--no-progress"]) == 0
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    assert saved["seed"] == 7 and saved["config"]["seed"] == 7 and saved["ictp_version"]
    for name in ("model.pt", "checkpoint.pt", "metrics.csv", "train.log", "loss.png", "valid_parity.png", "test_errors.csv", "test_parity.png"):
        assert (run / name).stat().st_size > 0, name
    assert "F RMSE (meV/Å)" in capsys.readouterr().out
    assert "epoch 1:" in (run / "train.log").read_text()


@pytest.mark.parametrize(
    "override, message",
    [("max_num_epoch=3", "did you mean 'max_num_epochs'"), ("lr=-1", "lr must be positive"), ("forces_key=F", "no training structure has a forces label")],
)
def test_config_errors_are_one_clear_line(run_yaml, override, message, capsys):
    assert main(["--config", str(run_yaml), override, "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err + captured.out


def test_resume_continues_with_more_epochs(run_yaml, tmp_path):
    assert main(["--config", str(run_yaml), "--no-progress"]) == 0
    assert main(["--resume", str(tmp_path / "run"), "max_num_epochs=3", "--no-progress"]) == 0
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2"]


def test_runs_started_before_a_key_existed_resume_with_what_they_did(run_yaml, tmp_path):
    assert main(["--config", str(run_yaml), "loss_reduction=mean", "ema_warmup=true", "--no-progress"]) == 0
    saved = tmp_path / "run" / "config.json"
    written = json.loads(saved.read_text())
    assert written["config"]["loss_reduction"] == "mean" and written["config"]["ema_warmup"] is True
    assert resumed_config(tmp_path / "run", []).loss_reduction == "mean"  # what the run was started with
    for key in LEGACY_DEFAULTS:  # a config.json of ictp 0.1.0
        del written["config"][key]
    saved.write_text(json.dumps(written))
    config = resumed_config(tmp_path / "run", ["max_num_epochs=3"])
    assert (config.loss_reduction, config.ema_warmup, config.stage_two) == ("sum", False, False)
    assert main(["--resume", str(tmp_path / "run"), "max_num_epochs=3", "--no-progress"]) == 0


def test_ctrl_c_keeps_the_last_epoch_and_the_run_resumes(run_yaml, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    command = [sys.executable, "-m", "ictp.training.cli", "--config", str(run_yaml), "max_num_epochs=1000", "--no-progress"]
    # A shell's background jobs inherit SIGINT ignored, and so would this child: give it the default back.
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=restore
    )
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "ictp-train --resume" in output
    epochs = len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) - 1
    assert main(["--resume", str(tmp_path / "run"), f"max_num_epochs={epochs + 1}", "--no-progress"]) == 0
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) - 1 == epochs + 1
