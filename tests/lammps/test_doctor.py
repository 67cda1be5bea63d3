"""The entry point LAMMPS runs at start-up stays light, and ``ictp doctor`` finds the plugin."""

import subprocess
import sys

from lammps_helpers import BIN


def test_entry_point_imports_no_torch():
    code = "import sys, ictp.lammps; print(ictp.lammps.plugin_dir()); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_doctor_reports_pair_style_known():
    done = subprocess.run([str(BIN / "ictp"), "doctor"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ok] pair_style ictp is known to LAMMPS" in done.stdout
    assert "[ok] plugin built against torch" in done.stdout
    assert "[ok] BLAS calls go to torch's optimised BLAS" in done.stdout


def test_lmp_binary_gets_torch_preloaded():
    """The lmp console script starts the binary with the environment the entry point leaves: torch's BLAS first."""
    code = "import os, lammps.executable; print(os.environ.get('LD_PRELOAD', ''))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch/lib/libtorch_cpu.so" in done.stdout


def test_doctor_flags_a_plugin_built_against_another_torch(tmp_path, monkeypatch):
    from ictp.lammps import doctor

    (tmp_path / "build_info.json").write_text('{"torch": "1.0.0", "lammps": "2025.7.22.4.0"}')
    monkeypatch.setattr(doctor, "plugin_dir", lambda: str(tmp_path))
    checks = dict((message.split(",")[0], ok) for ok, message in doctor._build_matches("REBUILD"))
    assert checks == {"plugin built against torch 1.0.0": False, "plugin built against lammps 2025.7.22.4.0": True}
