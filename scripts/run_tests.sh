#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite against the installed package.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh" test
cd "$root"
# Tests import the installed package, not the source tree, so a missing file in the wheel fails here.
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
