"""CPU energy+forces time and memory of ICTP's deployed formats, side by side with MACE, in one run.

For each case (system, channels, rank L, edge rank, correlation order ν), four
codes are measured, each in its own process (clean peak memory; MACE's
process-wide side effects never touch ICTP), round after round, alternating:

* ``compiled``: the ``.pt2`` package (AOTInductor + ictp's fused CPU kernels) that
  ``ictp-deploy model.pt model.pt2`` writes, through the deployment contract;
* ``torchscript``: the ``.pth`` file (reference kernels), through the same contract;
* ``eager``: the ``ictp.ICTP`` module in Python with the fused kernels (what
  ``ICTPCalculator`` runs for a ``.pt`` file);
* ``mace``: MACE (``mace-torch``, eager, as its ASE calculator runs it) with the same
  channels, L, edge rank, ν, cutoff, layers, radial MLP (``mace_reference.py``).

Reported per code: the median over rounds of each process's median call time
(neighbour lists excluded for every code), the parameter count, the peak resident
memory the calls add, and ICTP's compile time (a cached package is reused). The
ratios are ICTP's time divided by MACE's.

    python benchmarks/bench_cpu.py                           # the issue's table (about an hour)
    python benchmarks/bench_cpu.py --cases mol64 --rounds 3
    python benchmarks/bench_cpu.py --cases memory            # bcc Mo, 5,096 atoms, energy+forces+stress
"""

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from timing import median_ms, print_result, worker_result

HERE = Path(__file__).resolve().parent
MOLECULE_FILE = HERE.parent / "examples" / "data" / "3bpa.xyz"
CODES = ["compiled", "torchscript", "eager", "mace"]

# name -> (system, channels, L (hidden), edge rank, correlation)
CASES = {
    "mol64": ("molecule", 64, 2, 3, 3),
    **{f"{system}-L{L}-nu{nu}": (system, 32, L, L, nu)
       for system in ("molecule", "molecules10", "bulk864") for L in (1, 2) for nu in (2, 3)},
    "memory": ("bcc5096", 32, 1, 3, 3),
}  # fmt: skip


def structures(system):
    import ase.build
    import ase.io

    if system == "bulk864":
        atoms = ase.build.bulk("Si", "diamond", a=5.43, cubic=True) * (6, 6, 3)
        atoms.rattle(0.05, seed=0)
        return [atoms]
    if system == "bcc5096":
        atoms = ase.build.bulk("Mo", "bcc", a=3.16, cubic=True) * (14, 14, 13)
        atoms.rattle(0.02, seed=0)
        return [atoms]
    frames = ase.io.read(MOLECULE_FILE, index=":")
    return frames[:1] if system == "molecule" else [frames[k % len(frames)] for k in range(10)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(code, case, repeats, r_max, folder):
    """In a worker process: build, warm up, time; returns a dict."""
    torch.set_num_threads(1)
    system, channels, rank, edge_rank, correlation = CASES[case]
    atoms = structures(system)
    numbers = sorted({int(z) for a in atoms for z in a.numbers})
    stress = system == "bcc5096"
    if code == "mace":
        from mace_reference import build_mace, count_parameters, mace_batch

        start = time.perf_counter()
        model = build_mace(numbers, r_max, channels, rank, correlation, max_ell=edge_rank, avg_num_neighbors=20.0)
        build_s = time.perf_counter() - start
        batch = mace_batch(model, atoms, r_max)
        params = count_parameters(model)

        def call():
            model(batch, training=False, compute_force=True, compute_stress=stress)

    else:
        import ictp
        from ictp import keys
        from ictp.data.graph import edge_vectors, structures_to_batch
        from ictp.deploy.export import export, load_deployed, run

        model = ictp.ICTP(
            numbers, r_max=r_max, num_channels=channels, l_max_node=rank, l_max_edge=edge_rank,
            correlation=correlation, avg_num_neighbors=20.0,
        )  # fmt: skip
        params = sum(p.numel() for p in model.parameters())
        start = time.perf_counter()
        if code == "eager":
            module = ictp.deploy.DeployedModel(model.set_kernels("fused"))
        else:
            path = Path(folder) / f"{case}.{'pt2' if code == 'compiled' else 'pth'}"
            export(model, path, force=True)
            module, _ = load_deployed(path)
        build_s = time.perf_counter() - start
        graph = structures_to_batch(atoms, numbers, r_max)  # ten molecules: one disconnected graph
        inputs = (graph[keys.SPECIES], graph[keys.EDGE_INDEX], edge_vectors(graph), len(graph[keys.SPECIES]))

        def call():
            run(module, *inputs, stress, False)

    baseline = peak_rss_mb()
    ms = median_ms(call, repeats)
    return dict(ms=ms, params=params, peak_mb=peak_rss_mb() - baseline, build_s=build_s, atoms=sum(map(len, atoms)))


def run_worker(code, case, args, folder):
    command = [
        sys.executable, __file__, "--worker", code, case, "--repeats", str(args.repeats), "--r-max", str(args.r_max),
        "--folder", folder,
    ]  # fmt: skip
    return worker_result(command, args.timeout, cwd=HERE)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=[c for c in CASES if c != "memory"] + ["memory"],
                        choices=list(CASES))  # fmt: skip
    parser.add_argument("--codes", nargs="+", default=CODES, choices=CODES)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per case (medians over them)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per process (after 2 warm-up calls)")
    parser.add_argument("--r-max", type=float, default=5.0)
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per process")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print_result(measure(*args.worker, args.repeats, args.r_max, args.folder))
        return

    print(f"# CPU energy+forces (+stress for bcc5096), 1 torch thread, float64, r_max {args.r_max} Å, 2 layers, "
          f"radial MLP [64, 64, 64], ICTP product basis 'sym'; {args.rounds} alternating rounds, median of "
          f"{args.repeats} calls per process")  # fmt: skip
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}")
    header = ["case", "atoms"] + [f"{c} ms" for c in args.codes] + [f"{c} MB" for c in args.codes]
    header += ["ICTP params", "MACE params", "compile s"] + [f"{c}/mace" for c in args.codes if c != "mace"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    everything = {}
    with tempfile.TemporaryDirectory() as folder:
        for case in args.cases:
            results = {code: [] for code in args.codes}
            for _ in range(args.rounds):
                for code in args.codes:
                    results[code].append(run_worker(code, case, args, folder))
            everything[case] = results
            print(_row(case, results, args.codes), flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))


def _row(case, results, codes):
    def median(code, key):
        values = [r[key] for r in results[code] if key in r]
        return statistics.median(values) if values else None

    def cell(value, fmt):
        return "–" if value is None else format(value, fmt)

    errors = {code: next((r["error"] for r in results[code] if "error" in r), None) for code in codes}
    ms = {code: median(code, "ms") for code in codes}
    atoms = next((r["atoms"] for rs in results.values() for r in rs if "atoms" in r), None)
    cells = [case, cell(atoms, "d")]
    cells += [cell(ms[c], ".1f") if ms[c] is not None else f"error: {errors[c]}" for c in codes]
    cells += [cell(median(c, "peak_mb"), ".0f") for c in codes]
    ictp_params = next((median(c, "params") for c in codes if c != "mace" and median(c, "params")), None)
    cells += [cell(ictp_params, ",.0f"), cell(median("mace", "params") if "mace" in codes else None, ",.0f")]
    compile_s = [r["build_s"] for r in results.get("compiled", []) if "build_s" in r]
    cells.append(cell(max(compile_s) if compile_s else None, ".0f"))
    for c in codes:
        if c != "mace":
            ratio = ms[c] / ms["mace"] if "mace" in ms and ms.get("mace") and ms[c] else None
            cells.append(cell(ratio, ".2f"))
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
