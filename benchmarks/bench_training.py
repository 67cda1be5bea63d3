"""CPU time of one training step of ictp and MACE, side by side, with and without ictp-train's malloc settings,
and of ictp's compiled step (``compile: true``, :mod:`ictp.training.compiled`).

A step is what both codes' training loops do per batch: energies and forces with the graph kept,
the weighted loss (energy weight 1, forces 10, per-atom energies and per-component forces), the
backward pass through the forces and an AMSGrad step. Both models have the size of
``accuracy_vs_mace.py`` (:data:`accuracy_vs_mace.MODEL`: 32 channels, L = 1, edge rank 2, ν = 3,
2 layers, r_max 5 Å, float64) and see the same batches: 5 rMD17 aspirin structures (split 01),
5 AcAc structures (300 K) or 5 periodic mlearn Si cells (the first of ``Si_train.xyz``).

Each (code, malloc) pair runs in its own process with one thread, round after round, alternating;
reported are the medians over rounds of each process's median step time, and its peak resident
memory. ``reuse`` applies :func:`ictp.malloc.reuse_freed_memory` (what ``ictp-train`` does) before
anything else; ``default`` leaves glibc as it is (what ``mace_run_train`` runs with). ``ictp-compiled``
is ictp's step through :class:`ictp.training.compiled.CompiledForces` (Inductor); its first step, the
compilation, is reported apart (seconds; short when Inductor's on-disk cache already holds the model),
and its loss and gradients are checked against the eager step's on every batch before timing.

    python benchmarks/bench_training.py                  # aspirin and AcAc, 5 rounds
    python benchmarks/bench_training.py --cases aspirin --rounds 3 --steps 10
    python benchmarks/bench_training.py --cases acac si --rounds 3 --steps 10
"""

import argparse
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from timing import median_ms, print_result, worker_result

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
CASES = {
    "aspirin": "rMD17/rmd17_aspirin_train_01.xyz.xz",
    "acac": "AcAc/train_300K.xyz",
    "si": "mlearn_Zuo2020/Si_train.xyz",
}
RUNS = [("ictp", "default"), ("ictp", "reuse"), ("ictp-compiled", "reuse"), ("mace", "default"), ("mace", "reuse")]
BATCH, NUM_BATCHES = 5, 4


def measure(code: str, case: str, steps: int) -> dict:
    """In a worker process: build the model, warm up, time ``steps`` training steps over 4 batches of 5."""
    import ase.io

    from accuracy_vs_mace import MODEL

    torch.set_num_threads(1)
    frames = ase.io.read(SHARED / CASES[case], index=f":{BATCH * NUM_BATCHES}")
    numbers = sorted({int(z) for a in frames for z in a.numbers})
    batches = [frames[k : k + BATCH] for k in range(0, len(frames), BATCH)]
    sizes = dict(r_max=MODEL["r_max"], num_channels=MODEL["num_channels"], correlation=MODEL["correlation"])
    if code == "mace":
        from mace_reference import build_mace, count_parameters, mace_batch

        model = build_mace(numbers, l_max=MODEL["l_max_node"], max_ell=MODEL["l_max_edge"], avg_num_neighbors=15.0,
                           num_layers=MODEL["num_layers"], **sizes).train()  # fmt: skip
        graphs = [mace_batch(model, b, MODEL["r_max"]) for b in batches]
        params = count_parameters(model)

        def energy_forces(graph):
            out = model(graph, training=True, compute_force=True)
            return out["energy"], out["forces"], graph["ptr"]

    else:
        import ictp
        from ictp import keys
        from ictp.data.graph import structures_to_batch
        from ictp.model import evaluate_batch

        model = ictp.ICTP(numbers, l_max_node=MODEL["l_max_node"], l_max_edge=MODEL["l_max_edge"],
                          num_layers=MODEL["num_layers"], avg_num_neighbors=15.0, **sizes).train()  # fmt: skip
        graphs = [structures_to_batch(b, numbers, MODEL["r_max"]) for b in batches]
        params = sum(p.numel() for p in model.parameters())

        def energy_forces_of(evaluate):
            def energy_forces(graph):
                out = evaluate(graph)
                return out[keys.ENERGY], out[keys.FORCES], graph[keys.PTR]

            return energy_forces

        reference = energy_forces = energy_forces_of(lambda graph: evaluate_batch(model, graph, create_graph=True))
        if code == "ictp-compiled":
            from ictp.training.compiled import CompiledForces

            energy_forces = energy_forces_of(CompiledForces(model))

    labels = [(torch.zeros(len(b), dtype=torch.float64), torch.zeros(sum(map(len, b)), 3, dtype=torch.float64))
              for b in batches]  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    step_count = [0]

    def step():
        k = step_count[0] % len(graphs)
        step_count[0] += 1
        loss = batch_loss(*energy_forces(graphs[k]), labels[k])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    first_s = time.perf_counter()
    step()  # the compilation, for ictp-compiled
    first_s = time.perf_counter() - first_s
    if code == "ictp-compiled":
        check_against_eager(model, graphs, labels, energy_forces, reference)
    ms = median_ms(step, steps, warmup=NUM_BATCHES)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(ms=ms, params=params, peak_mb=peak_mb, atoms=sum(map(len, batches[0])), first_s=first_s)


def batch_loss(energy, forces, ptr, label):
    """Both codes' loss: per-atom energies (weight 1) and force components (weight 10), mean squared errors."""
    atoms = (ptr[1:] - ptr[:-1]).to(energy.dtype)
    return torch.mean(((energy - label[0]) / atoms) ** 2) + 10.0 * torch.mean((forces - label[1]) ** 2)


def check_against_eager(model, graphs, labels, compiled, eager):
    """The compiled step's loss and parameter gradients equal the eager step's on every batch (to 1e-10)."""
    for graph, label in zip(graphs, labels):
        (a, grads_a), (b, grads_b) = [
            (loss.item(), torch.autograd.grad(loss, list(model.parameters())))
            for loss in (batch_loss(*compiled(graph), label), batch_loss(*eager(graph), label))
        ]
        worst = max(((x - y).abs().max() / y.abs().max().clamp_min(1e-30)).item() for x, y in zip(grads_a, grads_b))
        if abs(a - b) > 1e-10 * abs(b) or worst > 1e-10:
            raise SystemExit(f"the compiled step differs from the eager one: loss {a} vs {b}, gradient {worst:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (medians over them)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per process (after 4 warm-up steps)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        code, malloc, case = args.worker
        if malloc == "reuse":
            from ictp.malloc import reuse_freed_memory

            if not reuse_freed_memory():
                raise SystemExit("glibc's mallopt is not available here")
        print_result(measure(code, case, args.steps))
        return
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, float64")
    print("| case | code | malloc | params | atoms/batch | ms/step (median) | rounds | peak RSS (MB) | vs ictp default "
          "| first step (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in args.cases:
        results = {run: [] for run in RUNS}
        for _ in range(args.rounds):
            for code, malloc in RUNS:
                command = [sys.executable, __file__, "--worker", code, malloc, case, "--steps", str(args.steps)]
                results[(code, malloc)].append(worker_result(command, 1800, cwd=HERE))
        base = statistics.median(r["ms"] for r in results[RUNS[0]] if "ms" in r)
        for (code, malloc), rows in results.items():
            good = [r for r in rows if "ms" in r]
            if not good:
                print(f"| {case} | {code} | {malloc} | failed: {rows[0].get('error')} |")
                continue
            ms = statistics.median(r["ms"] for r in good)
            print(f"| {case} | {code} | {malloc} | {good[0]['params']:,} | {good[0]['atoms']} | {ms:.1f} | {len(good)} "
                  f"| {max(r['peak_mb'] for r in good):.0f} | {ms / base:.2f} "
                  f"| {' / '.join(format(r['first_s'], '.1f') for r in good)} |")  # fmt: skip


if __name__ == "__main__":
    main()
