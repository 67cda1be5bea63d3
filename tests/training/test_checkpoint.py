"""Model files: weights-only round trip, the dtype a model has now, clear errors for foreign files."""

import pytest
import torch

import ictp
from ictp.training.checkpoint import load_model, save_model


def test_round_trip_keeps_the_current_dtype(tmp_path, molecule):
    model = ictp.ICTP(["H", "C", "N", "O"], r_max=3.0, num_channels=4, l_max_edge=2).to(torch.float32)
    save_model(model, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.dtype == torch.float32
    assert torch.equal(loaded.predict(molecule)["forces"], model.predict(molecule)["forces"])


def test_foreign_file_is_a_clear_error(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an ictp model file"):
        load_model(tmp_path / "other.pt")


def test_atomic_files_get_plain_permissions_and_leave_no_temporaries(tmp_path):
    from ictp.training.checkpoint import atomic_save

    (tmp_path / "plain").write_text("x")
    atomic_save({"a": 1}, tmp_path / "saved.pt")
    with pytest.raises(RuntimeError):
        atomic_write_failing(tmp_path / "failed.pt")
    assert (tmp_path / "saved.pt").stat().st_mode == (tmp_path / "plain").stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "saved.pt"]


def atomic_write_failing(path):
    from ictp.training.checkpoint import atomic_write

    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise RuntimeError("interrupted")

    atomic_write(path, write)
