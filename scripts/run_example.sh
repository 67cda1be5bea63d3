#!/usr/bin/env bash
# Sets up .venv and runs the main job on the bundled example data:
# train a small model, evaluate it on held-out structures, deploy it, run it in ASE.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
cd "$root"
bin=.venv/bin
run=runs/quickstart
rm -rf "$run"
"$bin/ictp-train" --config examples/quickstart/train.yaml
"$bin/ictp-eval" "$run/model.pt" examples/data/acac_test.xyz --csv "$run/errors.csv" --plots "$run"
"$bin/ictp-deploy" "$run/model.pt" "$run/model.pth"
"$bin/python" examples/ase_md.py "$run/model.pth" --molecule examples/data/acac_test.xyz --steps 20
echo "main job done: everything it wrote is in $run"
