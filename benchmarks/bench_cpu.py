"""CPU energy+forces timing of ICTP side by side with MACE (same channels, rank L, ν and cutoff).

Each measurement runs in its own subprocess, so peak memory is clean and MACE's
process-wide side effects never touch ICTP's timings. Reported: median time of
one energy+forces call, parameter count, and the peak resident memory the call
adds (MB) — and, where MACE is installed, ICTP's time divided by MACE's.

    python benchmarks/bench_cpu.py                      # the full table (minutes)
    python benchmarks/bench_cpu.py --ranks 2 --correlations 3 --systems molecule
"""

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import torch
from timing import median_ms, print_result, worker_result

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"
MOLECULE_FILE = HERE.parent / "examples" / "data" / "3bpa.xyz"
SYSTEMS = {
    "molecule": "one 3BPA molecule (27 atoms)",
    "molecules10": "a batch of 10 3BPA molecules (270 atoms)",
    "bulk864": "rattled diamond Si, 864 atoms, periodic",
}


def structures(system):
    import ase.build
    import ase.io

    if system == "bulk864":
        atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True) * (6, 6, 3)
        atoms.rattle(0.05, seed=0)
        return [atoms]
    frames = ase.io.read(MOLECULE_FILE, index=":")
    return frames[:1] if system == "molecule" else [frames[k % len(frames)] for k in range(10)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(code, rank, correlation, system, channels, r_max, dtype, repeats, product_basis):
    """Run in a subprocess: build, warm up, time; returns a dict."""
    torch.set_num_threads(1)
    atoms = structures(system)
    numbers = sorted({int(z) for a in atoms for z in a.numbers})
    dtype = getattr(torch, dtype)
    start = time.perf_counter()
    if code == "mace":
        from mace_reference import build_mace, count_parameters, mace_batch, mace_energy_forces

        model = build_mace(numbers, r_max, channels, rank, correlation, dtype=dtype, avg_num_neighbors=20.0)
        batch = mace_batch(model, atoms, r_max)
        params = count_parameters(model)

        def call():
            mace_energy_forces(model, batch)

    else:
        import ictp
        from ictp import keys
        from ictp.data.graph import edge_vectors, structures_to_batch
        from ictp.model import energy_derivatives

        model = ictp.ICTP(
            numbers, r_max=r_max, num_channels=channels, l_max_node=rank, l_max_edge=rank, correlation=correlation,
            product_basis=product_basis, avg_num_neighbors=20.0, dtype=dtype,
        )  # fmt: skip
        batch = structures_to_batch(atoms, numbers, r_max)
        vectors = edge_vectors(batch).to(dtype)
        params = sum(p.numel() for p in model.parameters())

        def call():
            leaf = vectors.detach().requires_grad_(True)
            energies = model(batch[keys.SPECIES], batch[keys.EDGE_INDEX], leaf)
            energy_derivatives(energies, leaf, batch[keys.EDGE_INDEX], batch[keys.BATCH], len(atoms))

    build_s = time.perf_counter() - start
    baseline = peak_rss_mb()
    ms = median_ms(call, repeats)
    return dict(ms=ms, params=params, peak_mb=peak_rss_mb() - baseline, build_s=build_s)


def run_subprocess(args, code, rank, correlation, system, timeout):
    command = [
        sys.executable, __file__, "--worker", code, str(rank), str(correlation), system,
        "--channels", str(args.channels), "--r-max", str(args.r_max), "--dtype", args.dtype,
        "--repeats", str(args.repeats), "--product-basis", args.product_basis,
    ]  # fmt: skip
    return worker_result(command, timeout, cwd=HERE)


def mace_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("mace") is not None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--correlations", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--r-max", type=float, default=5.0)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--product-basis", default="sym", choices=["full", "sym", "sym+lt"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per measurement (MACE's L=3, ν=4 build alone takes minutes)")
    parser.add_argument("--no-mace", action="store_true")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        code, rank, correlation, system = args.worker
        result = measure(code, int(rank), int(correlation), system, args.channels, args.r_max, args.dtype, args.repeats, args.product_basis)
        print_result(result)
        return

    with_mace = mace_installed() and not args.no_mace
    print(f"# CPU energy+forces, 1 torch thread, {args.dtype}, {args.channels} channels, r_max {args.r_max} Å, 2 layers, "
          f"ICTP product basis '{args.product_basis}'")  # fmt: skip
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}; median of {args.repeats} calls")
    header = "| system | L | ν | ICTP ms | ICTP params | ICTP peak MB |"
    header += " MACE ms | MACE params | MACE peak MB | ICTP/MACE time |" if with_mace else ""
    print(header)
    print("|" + "---|" * header.count("|")[:-1] if False else "|" + "---|" * (header.count("|") - 1))
    for system in args.systems:
        for rank in args.ranks:
            for correlation in args.correlations:
                ours = run_subprocess(args, "ictp", rank, correlation, system, args.timeout)
                row = f"| {system} | {rank} | {correlation} | " + _cells(ours)
                if with_mace:
                    theirs = run_subprocess(args, "mace", rank, correlation, system, args.timeout)
                    ratio = f"{ours['ms'] / theirs['ms']:.2f}" if "ms" in ours and "ms" in theirs else "–"
                    row += " " + _cells(theirs) + f" {ratio} |"
                print(row, flush=True)


def _cells(result):
    if "error" in result:
        return f"{result['error']} | – | – |"
    return f"{result['ms']:.1f} | {result['params']:,} | {result['peak_mb']:.0f} |"


if __name__ == "__main__":
    main()
