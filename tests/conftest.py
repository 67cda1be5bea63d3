"""Shared fixtures: both precisions, small structures from ../shared/data and tiny models."""

from pathlib import Path

import ase.build
import ase.io
import numpy as np
import pytest
import torch

import ictp
from ictp.deploy.export import export

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLE_DATA = Path(__file__).resolve().parents[1] / "examples" / "data"


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    """Runs a test in both precisions; ``ictp.testing.TOLERANCE`` has the tolerances of each."""
    return request.param


@pytest.fixture(scope="session")
def molecule():
    """A 3BPA structure (C12H12N2O, 27 atoms), non-periodic."""
    return ase.io.read(EXAMPLE_DATA / "3bpa.xyz", index=0)


@pytest.fixture(scope="session")
def molecules():
    return ase.io.read(EXAMPLE_DATA / "3bpa.xyz", index=":")


@pytest.fixture
def triclinic_cell():
    """A rattled triclinic cell of SiC with 8 atoms, smaller than twice a 5 Å cutoff."""
    atoms = ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True)
    atoms.set_cell(atoms.cell.array @ np.array([[1.0, 0.1, 0.0], [0.05, 1.0, 0.1], [0.0, 0.12, 1.0]]), scale_atoms=True)
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` beside the checkout (CI has it); see its README."""
    if not SHARED.is_dir():
        pytest.fail(f"test data folder {SHARED} is missing: check out the project with ../shared beside it")
    return SHARED


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny float64 model (r_max 3 Å, 4 channels) for the 3BPA and SiC structures, with realistic E0s (eV)."""
    return ictp.ICTP(
        ["H", "C", "N", "O", "Si"], r_max=3.0, num_channels=4, l_max_edge=2, radial_mlp=(8, 8),
        atomic_energies=[-13.6, -1029.5, -1484.3, -2041.8, -7869.2], avg_num_neighbors=8.0, seed=1,
    )  # fmt: skip


@pytest.fixture(scope="session")
def deployed_file(tiny_model, tmp_path_factory):
    """``tiny_model`` written by :func:`ictp.deploy.export` (float64)."""
    path = tmp_path_factory.mktemp("deployed") / "model.pth"
    export(tiny_model, path)
    return path
