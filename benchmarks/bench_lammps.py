"""LAMMPS MD throughput with pair_style ictp: formats, MPI ranks, comm layer vs comm full, memory per rank.

For each deployed format (compiled ``.pt2``, TorchScript ``.pth``), model and periodic
cell (rattled diamond Si, or bcc Mo), the script writes the model with
``ictp.deploy.export`` and then measures, each in its own process:

* LAMMPS: ``lmp`` (``OMP_NUM_THREADS=1``, ``pair_style ictp threads 1``), or
  ``mpiexec -np R lmp`` with ``comm layer`` and ``comm full``; velocities at
  300 K, ``fix nve``, 1 fs, a warm-up ``run`` then a timed ``run N``. From the log:
  "Loop time" gives ms per step and atom-steps per second; the plugin's first-step
  line gives local atoms, ghost nodes and edges per rank (min-max) and the bytes the
  layer exchange sent; with ``/usr/bin/time`` present, the peak resident memory of
  every rank (MB).
* The bare model call (one rank only): the same file loaded in Python with one
  torch thread, the graph of ``ictp.data.graph`` (each atom once, periodic images as
  shifts: what the plugin builds on one rank by folding ghosts), median of
  ``--repeats`` calls. The overhead ratio is LAMMPS's ms per step over the bare ms.

A randomly initialised model runs exactly as fast as a trained one of the same size.

    python benchmarks/bench_lammps.py                                   # Si 1,000 and 8,000 atoms, 1 and 2 ranks
    python benchmarks/bench_lammps.py --cells 10 --ranks 4 8 --steps 1  # nodes and edges per rank
    python benchmarks/bench_lammps.py --system mo --cells 16 --formats pt2 --ranks 1 2   # memory, 8,192 Mo atoms
    python benchmarks/bench_lammps.py --cells 5 10 23 --device cuda     # with a GPU: 97,336 atoms too
"""

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import median_ms, print_result, worker_result

BIN = Path(sys.executable).parent
SYSTEMS = {  # lattice, structure, element, mass, r_max, model hyperparameters
    "si": (5.43, "diamond", "Si", 28.0855, 5.0, dict(l_max_node=1, l_max_edge=2, avg_num_neighbors=28.0)),
    "mo": (3.16, "bcc", "Mo", 95.95, 4.5, dict(avg_num_neighbors=14.0)),  # the default model otherwise
}


def supercell(system: str, n: int):
    """Rattled conventional cells, n x n x n, periodic, wrapped into the box."""
    import ase.build

    lattice, structure, element = SYSTEMS[system][:3]
    atoms = ase.build.bulk(element, structure, a=lattice, cubic=True) * (n, n, n)
    atoms.rattle(0.05 if system == "si" else 0.02, seed=0)
    atoms.wrap()
    return atoms


def build_model(system: str, channels: int, dtype: str):
    import ictp

    _, _, element, _, r_max, hyperparameters = SYSTEMS[system]
    return ictp.ICTP([element], r_max=r_max, num_channels=channels, dtype=dtype, **hyperparameters)


def write_data(atoms, mass: float, path: Path):
    """LAMMPS data file (atom_style atomic, one type) of an orthogonal periodic cell with its corner at 0."""
    lengths = atoms.cell.lengths()
    lines = [f"# ictp benchmark, {len(atoms)} atoms\n\n{len(atoms)} atoms\n1 atom types\n\n"]
    lines += [f"0 {lengths[k]:.17g} {d}lo {d}hi\n" for k, d in enumerate("xyz")]
    lines += [f"\nMasses\n\n1 {mass}\n\nAtoms # atomic\n\n"]
    lines += [f"{i + 1} 1 {x:.17g} {y:.17g} {z:.17g}\n" for i, (x, y, z) in enumerate(atoms.positions)]
    path.write_text("".join(lines))


DECK = """units metal
atom_style atomic
boundary p p p
read_data data.lmp
pair_style ictp device {device} threads 1 {comm}
pair_coeff * * {model} {element}
velocity all create 300 4928459 mom yes rot no dist gaussian
fix integrate all nve
timestep 0.001
thermo_style custom step temp pe etotal
run {warmup}
run {steps}
"""


def parse_log(text: str) -> dict:
    """Timed run's loop time, steps, atoms, ranks, and the plugin's per-rank counts and exchange bytes."""
    loops = re.findall(r"Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms", text)
    if not loops:
        raise RuntimeError("no 'Loop time' line in the log")
    loop, procs, steps, atoms = loops[-1]
    out = {"loop_s": float(loop), "procs": int(procs), "steps": int(steps), "atoms": int(atoms)}
    counts = re.findall(r"per rank (\d+)-(\d+) local atoms, (\d+)-(\d+) ghost nodes, (\d+)-(\d+) edges", text)
    if counts:
        out["per_rank"] = tuple(int(x) for x in counts[-1])
    single = re.findall(r"ICTP: (\d+) atoms, (\d+) edges; single rank", text)
    if single:
        out["per_rank"] = (int(single[-1][0]),) * 2 + (0, 0) + (int(single[-1][1]),) * 2
    sent = re.findall(r"the layer exchange sent (\d+) bytes", text)
    if sent:
        out["bytes"] = int(sent[-1])
    return out


def run_lammps(model: Path, system: str, atoms, folder: Path, steps: int, warmup: int, ranks: int, comm: str,
               device: str, timeout: int):  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    write_data(atoms, SYSTEMS[system][3], folder / "data.lmp")
    deck = DECK.format(device=device, model=model, element=SYSTEMS[system][2], warmup=warmup, steps=steps,
                       comm=f"comm {comm}" if ranks > 1 else "")  # fmt: skip
    (folder / "in.lmp").write_text(deck)
    command = [str(BIN / "lmp"), "-in", "in.lmp", "-log", "log.lammps", "-screen", "none", "-nocite"]
    timer = shutil.which("time") and Path("/usr/bin/time").exists()
    if timer:
        command = ["/usr/bin/time", "-f", "PEAK_KB %M"] + command
    if ranks > 1:
        command = [str(BIN / "mpiexec"), "-np", str(ranks)] + command
    try:
        done = subprocess.run(command, check=False, cwd=folder, env=dict(os.environ, OMP_NUM_THREADS="1"),
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout}s"}
    log = (folder / "log.lammps").read_text() if (folder / "log.lammps").exists() else ""
    if done.returncode != 0:
        last = [line for line in (log + done.stderr).splitlines() if "ERROR" in line or "Killed" in line]
        return {"error": (last or [f"lmp failed ({done.returncode})"])[-1][:100]}
    result = parse_log(log)
    result["ms_per_step"] = 1e3 * result["loop_s"] / result["steps"]
    result["atom_steps_per_s"] = result["atoms"] * result["steps"] / result["loop_s"]
    peaks = [int(kb) / 1024 for kb in re.findall(r"PEAK_KB (\d+)", done.stderr)]
    if peaks:
        result["peak_mb"] = peaks
    return result


def bare_call(model: str, system: str, cells: int, repeats: int, device: str) -> dict:
    """Worker: the deployed model on the same structure, one torch thread; median ms of ``repeats`` calls."""
    import torch
    from ictp import keys
    from ictp.data.graph import edge_vectors, structures_to_batch
    from ictp.deploy.export import load_deployed, run

    torch.set_num_threads(1)
    module, metadata = load_deployed(model, device)
    atoms = supercell(system, cells)
    graph = structures_to_batch([atoms], metadata["atomic_numbers"], metadata["r_max"], torch.device(device))
    species, edge_index, vectors = graph[keys.SPECIES], graph[keys.EDGE_INDEX], edge_vectors(graph)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def call():
        out = run(module, species, edge_index, vectors, len(atoms), False, False)
        sync()
        return out

    return {"ms": median_ms(call, repeats), "edges": int(edge_index.shape[1]), "atoms": len(atoms)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", default="si", choices=list(SYSTEMS))
    parser.add_argument("--cells", type=int, nargs="+", default=[5, 10],
                        help="n x n x n conventional cells; Si: 5 -> 1,000 atoms, 10 -> 8,000; Mo: 16 -> 8,192")
    parser.add_argument("--channels", type=int, nargs="+", default=[32])
    parser.add_argument("--formats", nargs="+", default=["pt2", "pth"], choices=["pt2", "pth"])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--comm", nargs="+", default=["layer", "full"], choices=["layer", "full"])
    parser.add_argument("--steps", type=int, help="timed MD steps (default 10 up to 2,000 atoms, else 3)")
    parser.add_argument("--warmup", type=int, default=2, help="MD steps of the warm-up run before the timed one")
    parser.add_argument("--repeats", type=int, help="timed bare calls (default 5 up to 2,000 atoms, else 3)")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare model calls")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N], for both LAMMPS and the bare call")
    parser.add_argument("--workdir", type=Path, help="keep models, decks and logs here (default: a temporary folder)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per measurement")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print_result(bare_call(args.worker[0], args.worker[1], int(args.worker[2]), args.repeats or 3, args.device))
        return

    import torch

    from ictp.deploy.export import export

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"# LAMMPS pair_style ictp, {args.system}, device {args.device}, 1 torch thread per rank, {args.dtype}")
        print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
              f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
        header = ("| format | channels | params | atoms | ranks | comm | steps | ms/step | atom-steps/s "
                  "| local atoms/rank | ghost nodes/rank | edges/rank | exchange bytes/step | peak MB/rank "
                  "| bare model ms | overhead ratio |")  # fmt: skip
        print(header + "\n|" + "---|" * (header.count("|") - 1), flush=True)
        for channels in args.channels:
            model = build_model(args.system, channels, args.dtype)
            params = sum(p.numel() for p in model.parameters())
            for fmt in args.formats:
                path = (work / f"ictp_{args.system}_{channels}ch.{fmt}").resolve()
                export(model, path, force=True, device=args.device)
                for cells in args.cells:
                    atoms = supercell(args.system, cells)
                    steps = args.steps or (10 if len(atoms) <= 2000 else 3)
                    bare = {} if args.no_bare else worker_result(
                        [sys.executable, __file__, "--worker", str(path), args.system, str(cells), "--repeats",
                         str(args.repeats or (5 if len(atoms) <= 2000 else 3)), "--device", args.device],
                        args.timeout, env=dict(os.environ, OMP_NUM_THREADS="1"),
                    )  # fmt: skip
                    for ranks in args.ranks:
                        for comm in args.comm if ranks > 1 else ["-"]:
                            folder = work / f"{fmt}_{channels}ch_{cells}cells_{ranks}ranks_{comm}"
                            md = run_lammps(path, args.system, atoms, folder, steps, args.warmup, ranks, comm,
                                            args.device, args.timeout)  # fmt: skip
                            print(_row(fmt, channels, params, len(atoms), ranks, comm, steps, md, bare), flush=True)


def _row(fmt, channels, params, atoms, ranks, comm, steps, md, bare):
    cells = f"| {fmt} | {channels} | {params:,} | {atoms:,} | {ranks} | {comm} | {steps} |"
    if "error" in md:
        return cells + f" {md['error']} |" + " – |" * 8
    low_high = lambda k: f"{md['per_rank'][2 * k]:,}–{md['per_rank'][2 * k + 1]:,}" if "per_rank" in md else "–"  # noqa: E731
    bare_ms = f"{bare['ms']:.1f}" if "ms" in bare and ranks == 1 else "–"
    ratio = f"{md['ms_per_step'] / bare['ms']:.2f}" if "ms" in bare and ranks == 1 else "–"
    peak = "/".join(f"{p:.0f}" for p in md["peak_mb"]) if "peak_mb" in md else "–"
    sent = f"{md['bytes']:,}" if "bytes" in md else "–"  # the first step's, all ranks together
    return cells + (f" {md['ms_per_step']:.1f} | {md['atom_steps_per_s']:,.0f} | {low_high(0)} | {low_high(1)} "
                    f"| {low_high(2)} | {sent} | {peak} | {bare_ms} | {ratio} |")  # fmt: skip


if __name__ == "__main__":
    main()
