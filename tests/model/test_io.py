"""Model files: weights-only round trip, the dtype a model has now, clear errors for foreign files."""

import pytest
import torch

import ictp
from ictp.model import load_model, save_model


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
