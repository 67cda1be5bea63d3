"""ictp-train from the command line: config + overrides, saved config, clear errors, resume, Ctrl-C, test files.

Bad inputs and faults go through the real command in a subprocess: each must end in one line
``ictp-train: error: ...`` naming the file or key, exit status 2, and nothing of another run touched.
"""

import copy
import csv
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import pytest
import torch
import yaml

from ictp.training.cli import main, resumed_config
from ictp.training.config import LEGACY_DEFAULTS, TrainingConfig
from ictp.training.rundir import claim_run_directory

PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"
ENV = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
TRAIN = [sys.executable, "-m", "ictp.training.cli", "--no-progress"]


def write_run(folder: Path, frames, **settings) -> Path:
    """train.xyz (10 frames) and test.xyz (the rest) in ``folder``, and a run.yaml for a tiny 2-epoch run."""
    ase.io.write(folder / "train.xyz", frames[:10])
    ase.io.write(folder / "test.xyz", frames[10:])
    config = dict(
        train_file=str(folder / "train.xyz"), test_file=[str(folder / "test.xyz")], valid_count=2,
        run_dir=str(folder / "run"), num_channels=4, radial_mlp=[8], l_max_node=1, l_max_edge=1,
        correlation=2, max_num_epochs=2, E0s="average",
    )  # fmt: skip
    config.update(settings)
    (folder / "run.yaml").write_text(yaml.safe_dump(config))
    return folder / "run.yaml"


@pytest.fixture(scope="module")
def frames(shared_data):
    return ase.io.read(shared_data / "AcAc" / "train_300K.xyz", index=":12")


@pytest.fixture
def run_yaml(tmp_path, frames):
    return write_run(tmp_path, frames)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, frames):
    """A finished 2-epoch run (its folder holds run.yaml, the data and run/); copy it before changing it."""
    folder = tmp_path_factory.mktemp("finished")
    assert main(["--config", str(write_run(folder, frames)), "--no-progress"]) == 0
    return folder


def copy_of(finished_run, tmp_path) -> Path:
    """A copy of the finished run's folder whose config.json points at the copy's own data."""
    folder = tmp_path / "copy"
    shutil.copytree(finished_run, folder)
    saved = json.loads((folder / "run" / "config.json").read_text())
    for key in ("train_file", "test_file", "run_dir"):
        saved["config"][key] = json.loads(json.dumps(saved["config"][key]).replace(str(finished_run), str(folder)))
    (folder / "run" / "config.json").write_text(json.dumps(saved))
    return folder / "run"


def ictp_train(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*TRAIN, *map(str, args)], env=ENV, capture_output=True, text=True, timeout=300, **kwargs)


def assert_refused(result: subprocess.CompletedProcess, *fragments: str):
    """Exit status 2 and, as the last line, one ``ictp-train: error: ...`` line holding every fragment."""
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output, output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ictp-train: error: "), output
    for fragment in fragments:
        assert fragment in last, last


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
    started = ["loss_reduction=mean", "ema_warmup=true", "radial_lr_factor=1"]  # two optimiser groups, as then
    assert main(["--config", str(run_yaml), *started, "--no-progress"]) == 0
    saved = tmp_path / "run" / "config.json"
    written = json.loads(saved.read_text())
    assert written["config"]["loss_reduction"] == "mean" and written["config"]["ema_warmup"] is True
    assert resumed_config(tmp_path / "run", []).loss_reduction == "mean"  # what the run was started with
    for key in LEGACY_DEFAULTS:  # a config.json of ictp 0.1.0
        del written["config"][key]
    saved.write_text(json.dumps(written))
    config = resumed_config(tmp_path / "run", ["max_num_epochs=3"])
    old = (config.loss_reduction, config.ema_warmup, config.stage_two, config.refit_shift, config.radial_lr_factor)
    assert old == ("sum", False, False, False, 1.0)
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


def test_existing_run_output_is_refused_and_left_alone(run_yaml, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(b"the model of an earlier run")
    (run / "config.json").write_text("{}")
    result = ictp_train("--config", run_yaml, "max_num_epochs=1")
    assert_refused(result, f"{run} already holds a run (config.json, model.pt)", f"ictp-train --resume {run}")
    assert (run / "model.pt").read_bytes() == b"the model of an earlier run" and not (run / "metrics.csv").exists()


def test_a_second_process_is_kept_out_of_a_run_directory(run_yaml, tmp_path):
    with claim_run_directory(tmp_path / "run", resume=False):  # as if another ictp-train were writing there
        assert_refused(ictp_train("--config", run_yaml), f"another ictp-train (process {os.getpid()}) is writing to")
    # two runs started at once: one trains, the other is refused, and metrics.csv has each epoch once
    both = [subprocess.Popen([*TRAIN, "--config", str(run_yaml), "max_num_epochs=3"], env=ENV, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]  # fmt: skip
    codes = [process.wait(timeout=300) for process in both]
    assert sorted(codes) == [0, 2], [process.communicate() for process in both]
    with open(tmp_path / "run" / "metrics.csv") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["0", "1", "2"]


def test_batch_larger_than_the_training_set_is_refused(run_yaml, tmp_path):
    assert_refused(ictp_train("--config", run_yaml, "batch_size=20"),
                   "batch_size = 20 is larger than the 8 training structures", "set batch_size <= 8")  # fmt: skip
    assert not (tmp_path / "run" / "config.json").exists()


def test_coincident_atoms_in_training_data_are_named(frames, tmp_path):
    frames = copy.deepcopy(frames)  # with their labels
    frames[3].positions[7] = frames[3].positions[2]
    assert_refused(ictp_train("--config", write_run(tmp_path, frames)), "train.xyz, structure 3: atoms 2 and 7 are 0 Å")


def test_resume_applies_lr_and_refuses_changes_of_the_model_or_data(finished_run, tmp_path):
    run = copy_of(finished_run, tmp_path)
    for override, key in [("r_max=3.0", "r_max"), ("num_channels=8", "num_channels"), ("train_file=x.xyz", "train_file")]:
        assert_refused(ictp_train("--resume", run, override), f"{key} cannot change when resuming",
                       "start a new run", "only max_num_epochs, patience, lr, device, compile may change")  # fmt: skip
    result = ictp_train("--resume", run, "lr=0.1", "max_num_epochs=3")
    assert result.returncode == 0, result.stderr
    with open(run / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    default = TrainingConfig.lr
    assert [(r["epoch"], float(r["lr"])) for r in rows] == [("0", default), ("1", default), ("2", 0.1)]
    assert json.loads((run / "config.json").read_text())["config"]["lr"] == 0.1
    assert f"resuming with lr = 0.1 (was {default})" in (run / "train.log").read_text()
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert all(group["lr"] == 0.1 * group["lr_scale"] for group in checkpoint["optimizer"]["param_groups"])


def _truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage, fragments",
    [(lambda run: _truncate(run / "checkpoint.pt"), ["checkpoint.pt is not a readable training checkpoint"]),
     (lambda run: (run / "checkpoint.pt").write_bytes(b""), ["checkpoint.pt is not a readable training checkpoint"]),
     (lambda run: (run / "config.json").write_text('{"config": {"lr": '), ["config.json is corrupt", "start a new run"])],
    ids=["truncated-checkpoint", "empty-checkpoint", "corrupt-config"],
)  # fmt: skip
def test_damaged_run_files_are_named_on_resume(finished_run, tmp_path, damage, fragments):
    run = copy_of(finished_run, tmp_path)
    damage(run)
    assert_refused(ictp_train("--resume", run, "max_num_epochs=3"), *fragments)


@pytest.mark.parametrize(
    "override, fragments",
    [("r_max=0", ["r_max must be a positive number of Å, got 0"]),
     ("radial_mlp=64", ["radial_mlp must be a list of positive layer widths"]),
     ("species=[H,C,O,Xx]", ["species ['H', 'C', 'O', 'Xx']: unknown element symbol 'Xx'"]),
     ("forces_weight=-10", ["forces_weight must be a finite number >= 0, got -10"]),
     ("run_dir={tmp}/train.xyz", ["train.xyz is a file; choose another run_dir"]),
     ("test_file=[{tmp}/missing.xyz]", ["missing.xyz' does not exist"]),
     ("test_file=[{tmp}/extra.xyz]", ["extra.xyz, structure 1: element(s) ['N'] not in the model's species"]),
     ("valid_file={tmp}/extra.xyz", ["extra.xyz, structure 1: element(s) ['N'] not in the model's species"]),
     ("test_file=[{tmp}/nan.xyz]", ["nan.xyz, structure 0: atom 4 has a NaN or infinite position"]),
     ("test_file=[{tmp}/empty.xyz]", ["empty.xyz' holds no structures"]),
     ("test_file=[{tmp}/valid.xyz]", ["valid.xyz would write its parity plot valid_parity.png over that of the "
                                      "validation structures; rename"]),
     ("test_file=[{tmp}/extra.xyz,{tmp}/sub/extra.xyz]", ["sub/extra.xyz would write its parity plot "
                                                          "extra_parity.png over that of", "/extra.xyz"])],
)  # fmt: skip
def test_bad_settings_and_input_files_are_refused_before_the_first_epoch(frames, tmp_path, override, fragments):
    run_yaml = write_run(tmp_path, frames)
    extra = copy.deepcopy(frames[:2])
    extra[1].symbols[0] = "N"
    ase.io.write(tmp_path / "extra.xyz", extra)
    nan = copy.deepcopy(frames[0])
    nan.positions[4, 1] = float("nan")
    ase.io.write(tmp_path / "nan.xyz", nan)
    (tmp_path / "empty.xyz").write_text("")
    (tmp_path / "sub").mkdir()
    for name in ("valid.xyz", "sub/extra.xyz"):
        ase.io.write(tmp_path / name, frames[:2])
    assert_refused(ictp_train("--config", run_yaml, override.format(tmp=tmp_path)), *fragments)
    assert not (tmp_path / "run" / "config.json").exists()  # refused before anything was saved


def test_malformed_yaml_is_one_line(tmp_path):
    (tmp_path / "run.yaml").write_text("train_file: a.xyz\nradial_mlp: [64, 64\nlr: 0.1\n")
    assert_refused(ictp_train("--config", tmp_path / "run.yaml"), "run.yaml is not valid YAML at line 3, column 3")


def test_a_read_only_run_directory_is_one_line(run_yaml, tmp_path):
    """The real command with mkdir failing as on a read-only file system (root may write anywhere here)."""
    read_only = (
        "import errno, pathlib, sys\n"
        "def mkdir(*args, **kwargs): raise OSError(errno.EROFS, 'Read-only file system')\n"
        "pathlib.Path.mkdir = mkdir\n"
        "from ictp.training.cli import main\n"
        "sys.exit(main())\n"
    )
    result = subprocess.run([sys.executable, "-c", read_only, "--config", str(run_yaml)], env=ENV,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert_refused(result, f"cannot write into the run directory {tmp_path / 'run'}: Read-only file system")


def test_a_full_disk_during_a_checkpoint_is_one_line(run_yaml, tmp_path):
    """Files are limited to 40 kB: model.pt (about 23 kB) fits, checkpoint.pt (about 80 kB) does not."""

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    result = ictp_train("--config", run_yaml, preexec_fn=small_files)
    assert (tmp_path / "run" / "model.pt").exists()
    assert_refused(result, f"could not write {tmp_path / 'run' / 'checkpoint.pt'}", "check free disk space")
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp.pt")]  # no half file left


def test_ctrl_c_before_the_first_epoch_can_be_resumed(frames, tmp_path):
    run_yaml = write_run(tmp_path, frames, batch_size=1)  # 8 steps: the first epoch takes a while
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen([*TRAIN, "--config", str(run_yaml), "max_num_epochs=1000"], env=ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=restore)  # fmt: skip
    deadline = time.time() + 120
    while not (tmp_path / "run" / "config.json").exists() and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    if (tmp_path / "run" / "checkpoint.pt").exists():
        pytest.skip("the first epoch finished before the interrupt arrived")
    assert f"interrupted before the first epoch finished; ictp-train --resume {tmp_path / 'run'}  starts it" in output
    result = ictp_train("--resume", tmp_path / "run", "max_num_epochs=1")
    assert result.returncode == 0, result.stderr
    assert "starting it from epoch 0" in result.stdout


def test_ctrl_c_before_the_run_started_says_nothing_was_saved(run_yaml, tmp_path, monkeypatch, capsys):
    def interrupted_while_reading(config, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("ictp.training.cli.train", interrupted_while_reading)
    assert main(["--config", str(run_yaml), "--no-progress"]) == 130
    assert "nothing was saved; start it again" in capsys.readouterr().err


def test_ctrl_c_inside_a_console_line_waits_for_the_line_to_end(run_yaml, monkeypatch, capsys):
    """A Ctrl-C that lands while tqdm holds its console lock is raised after the line, not inside tqdm.

    Inside tqdm it left the lock half-taken, and the run ended with tqdm's RuntimeError instead of exit 130.
    """
    written = []

    def write(line, *args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # the Ctrl-C arrives in the middle of the write
        written.append(line)

    def train(config, log, **kwargs):
        config.directory.mkdir(parents=True)  # where the log file goes
        log("a line")
        raise AssertionError("the Ctrl-C should have stopped the run right after the line")

    monkeypatch.setattr("ictp.training.cli.tqdm.write", write)
    monkeypatch.setattr("ictp.training.cli.train", train)
    # Python's own SIGINT handler, as in ictp-train started from a terminal; pytest run in the background
    # (CI, nohup) inherits SIGINT ignored, where the command rightly leaves the handler alone
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["--config", str(run_yaml), "--no-progress"]) == 130
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the command put Python's handler back
    finally:
        signal.signal(signal.SIGINT, previous)
    assert written == ["a line"]
    assert "interrupted before the run started" in capsys.readouterr().err
