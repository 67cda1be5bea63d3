"""Shared fixtures: both precisions, small structures from ../shared/data and tiny models."""

from pathlib import Path

import ase.build
import ase.io
import numpy as np
import pytest
import torch
import yaml
from ase import Atoms

import ictp
from ictp.deploy.export import export

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLE_DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
REFERENCE = Path(__file__).resolve().parent / "reference" / "structures.yaml"


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
def reference():
    """``tests/reference/structures.yaml``: the reference model's keywords (``model``) and ``structures``,
    each with its ``name``, ``atoms`` and float64 ``results`` (energy, energies, forces and, periodic, stress)."""
    document = yaml.safe_load(REFERENCE.read_text())
    for entry in document["structures"]:
        entry["atoms"] = Atoms(numbers=entry.pop("numbers"), positions=entry.pop("positions"),
                               cell=entry.pop("cell"), pbc=entry.pop("pbc"))  # fmt: skip
        entry["results"] = {k: entry.pop(k) for k in ("energy", "energies", "forces", "stress") if k in entry}
    return document


@pytest.fixture(scope="session")
def tiny_model(reference):
    """The reference model: tiny, float64 (r_max 3 Å, 4 channels), H C N O Si with realistic E0s (eV)."""
    return ictp.ICTP(**reference["model"])


@pytest.fixture(scope="session")
def deployed_file(tiny_model, tmp_path_factory):
    """``tiny_model`` written by :func:`ictp.deploy.export` as TorchScript (float64)."""
    path = tmp_path_factory.mktemp("deployed") / "model.pth"
    export(tiny_model, path)
    return path


@pytest.fixture(scope="session")
def compiled_file(tiny_model, tmp_path_factory):
    """``tiny_model`` as a compiled package (``.pt2``, float64): the test session's one AOTInductor compile
    (a minute; cached by content, so a second session on this machine reuses it)."""
    path = tmp_path_factory.mktemp("compiled") / "model.pt2"
    export(tiny_model, path)
    return path


@pytest.fixture(params=["torchscript", "compiled"])
def any_deployed_file(request):
    """The deployed file in each format."""
    return request.getfixturevalue("deployed_file" if request.param == "torchscript" else "compiled_file")
