"""Shared fixtures: small structures from ../shared/data and tiny models."""

from pathlib import Path

import ase.build
import ase.io
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLE_DATA = Path(__file__).resolve().parents[1] / "examples" / "data"


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
