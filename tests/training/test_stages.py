"""Stage Two: other loss weights and learning rate from its first epoch on, also across --resume."""

import csv

import pytest
import torch

from ictp.model import load_model
from ictp.training.config import load_config
from ictp.training.loop import train
from ictp.training.stages import in_stage_two, loss_weights


STAGE_TWO = dict(stage_two=True, start_stage_two=2, lr=0.01, stage_two_lr=0.002, scheduler_patience=50)


def rows(run_dir):
    with open(run_dir / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def test_weights_switch_at_the_first_epoch_of_stage_two():
    config = load_config(None, ["train_file=a.xyz", "stage_two=true", "max_num_epochs=100", "virials_weight=0"])
    assert config.start_stage_two == 75  # 3/4 of the run, as MACE, recorded in the config
    assert not in_stage_two(config, 74) and in_stage_two(config, 75)
    assert loss_weights(config, 74) == (1.0, 10.0, 0.0)
    assert loss_weights(config, 75) == (1000.0, 100.0, 0.0)  # no stress in the fit: no virial term now either
    stress = load_config(None, ["train_file=a.xyz", "stage_two=true", "start_stage_two=3", "virials_weight=1"])
    assert loss_weights(stress, 3) == (1000.0, 100.0, 10.0)
    assert loss_weights(load_config(None, ["train_file=a.xyz"]), 10**6) == (1.0, 10.0, 0.0)


@pytest.mark.parametrize("start, message", [(4, "start_stage_two must be an epoch in \\[0, max_num_epochs = 4\\)"), (-1, "got -1")])
def test_stage_two_outside_the_run_is_an_error(start, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, ["train_file=a.xyz", "stage_two=true", "max_num_epochs=4", f"start_stage_two={start}"])


class StopAfter:
    """A log that interrupts the run like Ctrl-C once ``epoch N:`` (logged after its checkpoint) goes by."""

    def __init__(self, epoch):
        self.line = f"epoch {epoch}:"

    def __call__(self, line):
        if line.startswith(self.line):
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop", [1, 2])
def test_stage_two_survives_resume(tiny_run, tmp_path, stop):
    whole = train(tiny_run("whole", **STAGE_TWO), log=lambda *_: None)
    lr = [float(r["lr"]) for r in rows(whole)]
    assert lr == [0.01, 0.01, 0.002, 0.002]
    state = torch.load(whole / "checkpoint.pt", weights_only=True)
    assert state["best_epoch"] >= 2  # the best validation loss restarts in Stage Two
    with pytest.raises(KeyboardInterrupt):
        train(tiny_run("part", **STAGE_TWO), log=StopAfter(stop))
    assert len(rows(tmp_path / "part")) == stop + 1
    resumed = train(tiny_run("part", **STAGE_TWO), resume=True, log=lambda *_: None)
    for x, y in zip(rows(whole), rows(resumed), strict=True):
        assert float(y["lr"]) == float(x["lr"])
        assert float(y["valid_loss"]) == pytest.approx(float(x["valid_loss"]), rel=1e-12)
        assert float(y["train_loss"]) == pytest.approx(float(x["train_loss"]), rel=1e-12)


def test_the_radial_networks_keep_their_lr_factor_in_stage_two(tiny_run):
    run = train(tiny_run("radial", radial_lr_factor=3.0, **STAGE_TWO), log=lambda *_: None)
    assert [float(r["lr"]) for r in rows(run)] == [0.01, 0.01, 0.002, 0.002]  # the base lr
    groups = torch.load(run / "checkpoint.pt", weights_only=True)["optimizer"]["param_groups"]
    assert sorted(group["lr"] for group in groups) == pytest.approx([0.002, 0.002, 0.006])


def test_stage_two_keeps_its_last_epoch(tiny_run):
    """model.pt is the last epoch's EMA model, not the one of the lowest Stage Two validation loss.

    Stage Two's validation loss is dominated by the forces, which it trades for energies: selecting
    by it picked the first Stage Two epoch on 2 of 6 mlearn Si runs (docs/training.md).
    """
    lines = []
    run = train(tiny_run("last", **{**STAGE_TWO, "start_stage_two": 1, "stage_two_lr": 0.05}), log=lines.append)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["best_epoch"] < 3  # else this run could not tell the last epoch from the best one
    assert any(line.endswith("from epoch 3 (Stage Two keeps its last)") for line in lines)
    kept = load_model(run / "model.pt")
    for parameter, shadow in zip(kept.parameters(), state["ema"], strict=True):
        assert torch.equal(parameter, shadow)
    trained = dict(kept.named_buffers())
    for name, buffer in state["model"]["state_dict"].items():
        if name in trained:  # the refitted shift and the statistics: shared by live and EMA weights
            assert torch.equal(trained[name], buffer), name
