"""Fixtures of the training tests: twelve AcAc structures (also with config_types) and tiny runs on them."""

import ase.io
import pytest

from ictp.training.config import load_config


@pytest.fixture
def small_data(tmp_path, shared_data):
    frames = ase.io.read(shared_data / "AcAc" / "train_300K.xyz", index=":12")
    path = tmp_path / "acac.xyz"
    ase.io.write(path, frames)
    return path


@pytest.fixture
def typed_data(tmp_path, shared_data):
    """Twelve AcAc structures labelled with three config_types of 8, 3 and 1 structures."""
    frames = ase.io.read(shared_data / "AcAc" / "train_300K.xyz", index=":12")
    for k, atoms in enumerate(frames):
        atoms.info["config_type"] = "bulk" if k < 8 else "surface" if k < 11 else "vacancy"
    path = tmp_path / "typed.xyz"
    ase.io.write(path, frames)
    return path


@pytest.fixture
def tiny_run(tmp_path, small_data):
    """``tiny_run(name, **overrides)``: the config of a 4-epoch run of a tiny model in ``tmp_path/name``."""

    def config(name, **overrides):
        values = dict(
            train_file=str(small_data), valid_count=2, run_dir=str(tmp_path / name), num_channels=4, radial_mlp=[8],
            l_max_node=1, l_max_edge=1, correlation=2, batch_size=5, max_num_epochs=4, E0s="average",
            scheduler_patience=1000,
        )  # fmt: skip
        values.update(overrides)
        return load_config(None, [f"{k}={v}" for k, v in values.items()])

    return config
