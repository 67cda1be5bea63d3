#!/usr/bin/env bash
# Sets up .venv and runs the main job on the bundled example data.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
cd "$root"
.venv/bin/python examples/evaluate_fresh_model.py
