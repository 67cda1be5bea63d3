"""The entry point LAMMPS runs at start-up stays light; ``ictp doctor`` finds, checks and compiles the plugin."""

import os
import subprocess
import sys

from lammps_helpers import BIN

from ictp import native
from ictp.lammps import doctor


def test_entry_point_imports_no_torch():
    code = "import sys, ictp.lammps; print(ictp.lammps.plugin_dir()); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_doctor_reports_pair_style_known_and_a_reference_model_matching_ase():
    done = subprocess.run([str(BIN / "ictp"), "doctor"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ["[ok] pair_style ictp compiled for torch", "[ok] pair_style ictp is known to LAMMPS",
                 "[ok] BLAS calls go to torch's optimised BLAS", "[ok] a reference model in LAMMPS matches ASE"]:  # fmt: skip
        assert line in done.stdout, done.stdout


def test_lmp_binary_gets_torch_preloaded():
    """The lmp console script starts the binary with the environment the entry point leaves: torch's BLAS first."""
    code = "import os, lammps.executable; print(os.environ.get('LD_PRELOAD', ''))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch/lib/libtorch_cpu.so" in done.stdout


def test_another_torch_means_another_build(monkeypatch):
    """What an upgrade of torch does: the cache folder changes, the old plugin is never used, doctor says how to fix."""
    before = native.built()
    assert before is not None
    real_version = native.metadata.version
    monkeypatch.setattr(native.metadata, "version", lambda name: "9.9.9" if name == "torch" else real_version(name))
    assert native.built() is None and native._folder(native.build_key()) != before
    messages = [message for ok, message in doctor.diagnose() if not ok]
    assert any("not compiled for torch 9.9.9" in m and "ictp doctor --fix" in m for m in messages), messages


def test_no_compiler_is_a_clear_message_and_python_still_works(tmp_path):
    """Without a compiler: LAMMPS start-up says what to install; the Python package (eager models) still works."""
    env = dict(os.environ, CXX=str(tmp_path / "no-such-compiler"), ICTP_CACHE_DIR=str(tmp_path / "cache"))
    code = (
        "import ictp.lammps, ictp, ase.build\n"
        "assert ictp.lammps.plugin_dir() == ''\n"
        "atoms = ase.build.bulk('Si', 'diamond', a=5.43)\n"
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    atoms.calc = ictp.ICTPCalculator(ictp.ICTP(['Si'], num_channels=4, l_max_edge=1))\n"
        "print(atoms.get_potential_energy(), [str(w.message) for w in caught])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "no C++ compiler" in done.stderr and "install one (e.g. apt install g++" in done.stderr
    assert "running without the fused CPU kernels" in done.stdout
    checks = subprocess.run([str(BIN / "ictp"), "doctor"], capture_output=True, text=True, env=env).stdout
    assert "[FAIL] no C++ compiler" in checks
