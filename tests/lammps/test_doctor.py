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
