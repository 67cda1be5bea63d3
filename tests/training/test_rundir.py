"""The run directory: one run per folder, one process at a time, clear errors for folders that cannot hold a run."""

import errno
import os
from pathlib import Path

import pytest

from ictp.training.config import TrainingConfig
from ictp.training.rundir import claim_run_directory, read_run_config, write_run_config


def test_a_second_claim_is_refused_while_the_first_holds_the_lock(tmp_path):
    with claim_run_directory(tmp_path / "run", resume=False):
        with pytest.raises(OSError, match=f"another ictp-train \\(process {os.getpid()}\\) is writing to .*run"):
            with claim_run_directory(tmp_path / "run", resume=False):
                pass
    with claim_run_directory(tmp_path / "run", resume=False):  # released when the first run ends
        pass


@pytest.mark.parametrize("name", ["config.json", "model.pt", "checkpoint.pt", "metrics.csv"])
def test_any_output_of_another_run_is_refused(tmp_path, name):
    (tmp_path / name).write_text("x")
    with pytest.raises(FileExistsError, match=f"already holds a run \\({name}\\); continue it with  ictp-train --resume"):
        with claim_run_directory(tmp_path, resume=False):
            pass
    (tmp_path / "train.log").write_text("a failed start leaves a log, which does not make a run")
    if name != "config.json":
        with pytest.raises(FileNotFoundError, match="cannot resume: .*config.json not found"):
            with claim_run_directory(tmp_path, resume=True):
                pass


def test_unusable_folders_are_clear_errors(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="the run directory .*file is a file; choose another run_dir"):
        with claim_run_directory(tmp_path / "file", resume=False):
            pass
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        with claim_run_directory(tmp_path / "typo", resume=True):
            pass
    assert not (tmp_path / "typo").exists()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(OSError, match="cannot write into the run directory .*ro: Read-only file system; choose a run_dir"):
        with claim_run_directory(tmp_path / "ro", resume=False):
            pass


def test_config_json_round_trip_and_corruption(tmp_path):
    write_run_config(tmp_path, TrainingConfig(train_file="a.xyz", lr=5e-3))
    assert read_run_config(tmp_path)["lr"] == 5e-3
    (tmp_path / "config.json").write_text('{"config": {"lr": 0.0')
    with pytest.raises(ValueError, match="config.json is corrupt .*restore it from a copy or start a new run"):
        read_run_config(tmp_path)
