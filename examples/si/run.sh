#!/usr/bin/env bash
# The mlearn Si example: train on Si_train.xyz (with stresses), then report the errors on Si_test.xyz
# per config_type (runs/si/test_errors.csv, parity plots). Run from the repository root with ../shared
# beside it, after `bash scripts/setup_env.sh`; about 104 minutes on one core (2026-12-07).
set -euo pipefail
bin=${BIN:-.venv/bin}
"$bin/python" examples/si/fix_stress.py   # the shared files have σ_yz and σ_xz swapped
OMP_NUM_THREADS=1 "$bin/ictp-train" --config examples/si/train.yaml
