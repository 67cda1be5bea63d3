"""Training end to end on a small slice: it learns, and a resumed run equals an uninterrupted one."""

import csv

import ase.io
import pytest
import torch

from ictp import keys
from ictp.model import load_model
from ictp.training.loop import train


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def test_tiny_model_overfits(tiny_run, small_data):
    run_dir = train(tiny_run("fit", max_num_epochs=100, lr=0.02), log=lambda *_: None)
    rows = read_metrics(run_dir)
    assert len(rows) == 100
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]) / 10
    model = load_model(run_dir / "model.pt")
    frames = ase.io.read(small_data, index=":2")
    out = model.predict(frames)
    assert torch.isfinite(out[keys.FORCES]).all()


def test_resume_equals_an_uninterrupted_run(tiny_run):
    whole = train(tiny_run("whole"), log=lambda *_: None)
    part = train(tiny_run("part", max_num_epochs=2), log=lambda *_: None)
    with open(part / "metrics.csv", "a") as handle:  # as if killed after the row of epoch 2, before its checkpoint
        handle.write("2,1.0,1.0,1.0,1.0,0.01\n")
    resumed = train(tiny_run("part"), resume=True, log=lambda *_: None)
    assert resumed == part
    a, b = read_metrics(whole), read_metrics(resumed)
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert float(x["valid_loss"]) == pytest.approx(float(y["valid_loss"]), rel=1e-12)
        assert float(x["train_loss"]) == pytest.approx(float(y["train_loss"]), rel=1e-12)


def test_existing_run_is_not_overwritten(tiny_run):
    config = tiny_run("once", max_num_epochs=1)
    train(config, log=lambda *_: None)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(config, log=lambda *_: None)
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        train(tiny_run("never"), resume=True, log=lambda *_: None)
