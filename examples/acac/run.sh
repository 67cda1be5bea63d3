#!/usr/bin/env bash
# The AcAc example: train on 450 + 50 structures of train_300K.xyz, then test at 300 K and 600 K.
# Run from the repository root with ../shared beside it, after `bash scripts/setup_env.sh`.
set -euo pipefail
bin=${BIN:-.venv/bin}
data=../shared/data/AcAc
OMP_NUM_THREADS=1 "$bin/ictp-train" --config examples/acac/train.yaml
"$bin/ictp-eval" runs/acac/model.pt "$data/test_MD_300K.xyz" "$data/test_MD_600K.xyz" \
  --csv runs/acac/test_errors.csv --plots runs/acac
