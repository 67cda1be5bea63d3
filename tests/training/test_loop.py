"""Training end to end on a small slice: it learns, and a resumed run equals an uninterrupted one."""

import csv

import ase.io
import pytest
import torch

from ictp import keys
from ictp.model import ICTP, load_model
from ictp.native import NativeBuildError
from ictp.training import compiled, loop
from ictp.training.loop import _param_groups, train


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
    """With the atomic basis scaled at the start (``init_basis_rms``): once, not again on resuming."""
    logs = {"whole": [], "part": [], "resumed": []}
    whole = train(tiny_run("whole", init_basis_rms=0.1), log=logs["whole"].append)
    part = train(tiny_run("part", init_basis_rms=0.1, max_num_epochs=2), log=logs["part"].append)
    with open(part / "metrics.csv", "a") as handle:  # as if killed after the row of epoch 2, before its checkpoint
        handle.write("2,1.0,1.0,1.0,1.0,0.01\n")
    resumed = train(tiny_run("part", init_basis_rms=0.1), resume=True, log=logs["resumed"].append)
    assert resumed == part
    scaled = {name: [line for line in lines if line.startswith("atomic basis scaled")] for name, lines in logs.items()}
    assert len(scaled["whole"]) == len(scaled["part"]) == 1 and scaled["resumed"] == []
    a, b = read_metrics(whole), read_metrics(resumed)
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert float(x["valid_loss"]) == pytest.approx(float(y["valid_loss"]), rel=1e-12)
        assert float(x["train_loss"]) == pytest.approx(float(y["train_loss"]), rel=1e-12)


@pytest.mark.parametrize("factor", [1.0, 2.5])
def test_adams_first_step_moves_the_radial_networks_radial_lr_factor_times_as_far(tiny_run, factor):
    config = tiny_run("groups", lr=0.01, radial_lr_factor=factor)
    model = ICTP([1, 6, 8], config=config)
    optimizer = torch.optim.Adam(_param_groups(model, config), lr=config.lr, amsgrad=True)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    sum((p**2).sum() for p in model.parameters()).backward()
    optimizer.step()  # Adam's first step moves every weight by lr (its gradient's sign times lr)
    for name, p in model.named_parameters():
        expected = 0.01 * factor if ".radial." in name else 0.01
        assert (p.detach() - before[name]).abs().max().item() == pytest.approx(expected, rel=1e-6), name


def test_existing_run_is_not_overwritten(tiny_run):
    config = tiny_run("once", max_num_epochs=1)
    train(config, log=lambda *_: None)
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(config, log=lambda *_: None)
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        train(tiny_run("never"), resume=True, log=lambda *_: None)


def test_a_diverging_run_stops_with_the_batch_named_and_no_model_saved(tmp_path, tiny_run):
    config = tiny_run("diverged", lr=1e30, batch_size=1, ema_decay=0.0, max_num_epochs=2)
    with pytest.raises(ValueError, match=r"epoch 0: the training loss is (nan|inf) on the batch of acac.xyz "
                                         r"structure \d+; nothing of epoch 0 was saved.*--resume .*diverged lr="):
        train(config, log=lambda *_: None)
    assert not (tmp_path / "diverged" / "model.pt").exists() and not (tmp_path / "diverged" / "checkpoint.pt").exists()
    resumed = train(tiny_run("diverged", lr=0.01, batch_size=1, ema_decay=0.0, max_num_epochs=1),
                    resume=True, log=lambda *_: None)  # the advice works: from epoch 0 with a lower lr
    assert len(read_metrics(resumed)) == 1


def test_a_validation_label_that_overflows_stops_the_run(tmp_path, tiny_run, small_data):
    frames = ase.io.read(small_data, index=":")
    frames[11].calc.results["forces"] = frames[11].calc.results["forces"] * 1e200  # finite, but squares overflow
    ase.io.write(tmp_path / "bad.xyz", frames[11:])
    ase.io.write(tmp_path / "good.xyz", frames[:11])
    config = tiny_run("overflow", train_file=str(tmp_path / "good.xyz"), valid_file=str(tmp_path / "bad.xyz"))
    with pytest.raises(ValueError, match=r"epoch 0: the validation loss is inf on the batch of bad.xyz structure 0"):
        train(config, log=lambda *_: None)
    assert not (tmp_path / "overflow" / "model.pt").exists()


def test_a_compiled_run_equals_an_eager_one_and_resumes_either_way(tiny_run, small_data, monkeypatch):
    """``compile: true`` (with the aot_eager backend, as tests/training/test_compiled_training.py explains)."""
    monkeypatch.setattr(compiled, "BACKEND", "aot_eager")
    eager = train(tiny_run("eager", max_num_epochs=3), log=lambda *_: None)
    logs = []
    part = train(tiny_run("compiled", max_num_epochs=2, compile=True), log=logs.append)
    assert any(line.startswith("compile: true") for line in logs)
    resumed = train(tiny_run("compiled", max_num_epochs=3, compile=False), resume=True, log=logs.append)
    assert resumed == part and "resuming with compile = False (was True)" in logs
    a, b = read_metrics(eager), read_metrics(resumed)
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        for key in ("train_loss", "valid_loss"):
            assert float(x[key]) == pytest.approx(float(y[key]), rel=1e-9), (x["epoch"], key)
    frames = ase.io.read(small_data, index=":2")
    assert torch.isfinite(load_model(resumed / "model.pt").predict(frames)[keys.FORCES]).all()


def test_validation_and_the_shift_refit_run_the_fused_kernels_with_the_reference_numbers(tiny_run, monkeypatch):
    logs = []
    model = ICTP([1, 6, 8], num_channels=4, l_max_node=1, l_max_edge=1, correlation=2)
    assert loop._evaluation_kernels(model, logs.append) == "fused" and logs == []
    assert not any(getattr(m, "fused", False) for m in model.modules())  # left as training needs it
    fused = train(tiny_run("fused"), log=lambda *_: None)
    monkeypatch.setattr(loop, "_evaluation_kernels", lambda model, log: "reference")
    reference = train(tiny_run("reference"), log=lambda *_: None)
    for x, y in zip(read_metrics(fused), read_metrics(reference), strict=True):
        for key in ("train_loss", "valid_loss", "valid_rmse_e_per_atom_meV", "valid_rmse_f_meV_per_A"):
            assert float(x[key]) == pytest.approx(float(y[key]), rel=1e-10), (x["epoch"], key)


def test_without_the_fused_kernels_evaluation_falls_back_to_the_reference_ones_and_says_so(monkeypatch):
    def no_compiler(self, name):
        if name == "fused":
            raise NativeBuildError("no C++ compiler found")
        return self

    monkeypatch.setattr(ICTP, "set_kernels", no_compiler)
    logs = []
    assert loop._evaluation_kernels(ICTP([1], num_channels=4), logs.append) == "reference"
    assert len(logs) == 1 and "no C++ compiler found" in logs[0] and "reference kernels" in logs[0]
