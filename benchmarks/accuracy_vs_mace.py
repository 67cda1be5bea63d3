"""Test errors of ictp and MACE trained side by side: one fixed split, equal size, equal recipe, equal epochs.

For each case the data are split once (seed 0) into ``train.xyz``, ``valid.xyz``
and test files under ``WORK/CASE/data``; ``ictp-train`` and MACE 0.3.16's
``mace_run_train`` then train at the same time, one process and one thread each,
on the same files with the same model size (:data:`MODEL`) and recipe
(:data:`RECIPE`, each at its default learning rate). Each trained model is evaluated through its code's ASE
calculator (``ictp.ICTPCalculator`` on ``model.pt``, ``MACECalculator``), each in
its own process, so MACE's process-wide settings never reach ictp.

    python benchmarks/accuracy_vs_mace.py acac --epochs 40                  # train both, evaluate, write results.json
    python benchmarks/accuracy_vs_mace.py acac --epochs 15 --codes ictp --label pilot --ictp loss=sum
    python benchmarks/accuracy_vs_mace.py si --codes ictp --label lr002 --ictp lr=0.02 --against main  # MACE of 'main'
    python benchmarks/accuracy_vs_mace.py aspirin --epochs 12 --label e12 --seed 1   # another training seed: e12-s1
    python benchmarks/accuracy_vs_mace.py --table runs/accuracy             # results.md from every results.json below
    python benchmarks/accuracy_vs_mace.py --table benchmarks/results/accuracy  # ... of the kept runs

Written per run (``WORK/CASE/LABEL/``): ``ictp/`` and ``mace/`` (each code's run
directory and console log), ``load_CODES.csv`` (the 1-minute load average every 30 s while CODES trained),
``results.json`` (test errors, validation curves with wall-clock times, seconds
per epoch, time to reach MACE's final validation force RMSE, parameter counts). An ictp-only run
takes that target from the MACE run of the same case and seed under ``--against LABEL``: its run
directory in WORK, or else its ``results.json`` kept in :data:`ARCHIVE`. ``--archive`` keeps a
finished run's ``results.json`` there (a few kB, committed: run directories do not outlive the machine).
``--seed`` changes both codes' training seed (initialisation and batch order; the
split stays the same) and writes to ``LABEL-sSEED``. One seed's test errors spread
by several per cent on these sets, so ``--table`` also gives, for every label run
with several seeds, the mean over seeds with the lowest and highest value.
"""

import argparse
import importlib.util
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("ICTP_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
BIN = Path(sys.executable).parent
ARCHIVE = HERE / "results" / "accuracy"
"""``CASE/RUN/results.json`` of the runs that ``--archive`` kept (those of benchmarks/README.md since 2026-12-06)."""
KEYS = dict(energy="REF_energy", forces="REF_forces", stress="REF_stress", virials="REF_virials")
"""The label keys of the files written here (MACE's defaults; no ASE calculator holds them).
Periodic cells with a stress also get the virial ``W = -σ V`` (eV), which MACE's ``virials`` loss reads."""

MODEL = dict(r_max=5.0, num_channels=32, l_max_node=1, l_max_edge=2, correlation=3, num_layers=2, default_dtype="float64")
"""Equal size: ictp's ``l_max_node`` is MACE's ``max_L``, ``l_max_edge`` its ``max_ell``."""

RECIPE = dict(batch_size=5, valid_batch_size=10, ema_decay=0.99, weight_decay=5e-7, scheduler_patience=5,
              lr_factor=0.8, energy_weight=1.0, forces_weight=10.0)  # fmt: skip
"""Equal recipe (AMSGrad, EMA and isolated-atom or fitted E0s for both); each code keeps its own loss normalisation
and its own default learning rate (:data:`MACE_LR`)."""

MACE_LR = 0.01
"""``mace_run_train``'s default learning rate; ictp trains at ``ictp-train``'s (``TrainingConfig.lr``).
``--ictp lr=...`` or ``--mace='--lr=...'`` compares them at another."""

THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass
class Case:
    """A data set, its split and its test files."""

    source: str  # training file, relative to SHARED
    valid: int  # structures held out for validation (drawn with seed 0)
    tests: Dict[str, str]  # test name -> file relative to SHARED
    E0s: object  # {symbol: eV} or "average" (least squares on the training split, both codes)
    train: Optional[int] = None  # training structures (default: all the others)
    stress: bool = False
    exclude_training_file: bool = False  # drop test structures that also occur in the training file
    vasp_stress: bool = False  # rebuild the stress from mlearn's raw VASP vector (examples/si/fix_stress.py)


CASES = {
    "acac": Case("AcAc/train_300K.xyz", 50, {"300K": "AcAc/test_MD_300K.xyz", "600K": "AcAc/test_MD_600K.xyz"},
                 {"H": -13.568422178253735, "C": -1026.8538996116154, "O": -2037.796869412825}, train=450),
    "3bpa": Case("3BPA/train_300K.xyz", 50, {"mixedT": "3BPA/train_mixedT.xyz"},
                 {"H": -13.587222780835477, "C": -1029.4889999855063, "N": -1484.9814568572233,
                  "O": -2041.9816003861047}, train=450, exclude_training_file=True),
    "si": Case("mlearn_Zuo2020/Si_train.xyz", 21, {"Si_test": "mlearn_Zuo2020/Si_test.xyz"}, "average", stress=True,
               vasp_stress=True),
    "aspirin": Case("rMD17/rmd17_aspirin_train_01.xyz.xz", 50, {"split01": "rMD17/rmd17_aspirin_test_01.xyz.xz"},
                    "average", train=950),
}  # fmt: skip


# ---------------------------------------------------------------- data


def _labelled(atoms, stress: bool):
    """A copy of ``atoms`` with its labels under :data:`KEYS` and no calculator."""
    out = atoms.copy()
    out.info.pop("energy", None)
    out.info[KEYS["energy"]] = atoms.get_potential_energy()
    out.arrays[KEYS["forces"]] = atoms.get_forces()
    if stress:
        out.info[KEYS["stress"]] = atoms.get_stress(voigt=False)
        out.info[KEYS["virials"]] = -atoms.get_stress(voigt=False) * atoms.get_volume()
    return out


def _read(case: Case, source: str) -> list:
    """The structures of ``source`` (relative to SHARED); mlearn's get their shear stresses in the right slots."""
    import ase.io

    frames = ase.io.read(SHARED / source, ":")
    if not case.vasp_stress:
        return frames
    spec = importlib.util.spec_from_file_location("fix_stress", HERE.parent / "examples" / "si" / "fix_stress.py")
    fix_stress = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fix_stress)
    return fix_stress.corrected(frames)


def prepare(name: str, directory: Path) -> Dict[str, Path]:
    """Write the split of case ``name`` under ``directory`` once; returns the paths of train, valid and tests."""
    import ase.io

    case = CASES[name]
    paths = {"train": directory / "train.xyz", "valid": directory / "valid.xyz"}
    paths.update({f"test_{k}": directory / f"test_{k}.xyz" for k in case.tests})
    if all(p.exists() for p in paths.values()):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    frames = _read(case, case.source)
    order = np.random.default_rng(0).permutation(len(frames))
    count = case.train if case.train is not None else len(frames) - case.valid
    valid, train = order[: case.valid], order[case.valid : case.valid + count]
    ase.io.write(paths["valid"], [_labelled(frames[k], case.stress) for k in valid], format="extxyz")
    ase.io.write(paths["train"], [_labelled(frames[k], case.stress) for k in train], format="extxyz")
    for test, source in case.tests.items():
        tests = _read(case, source)
        if case.exclude_training_file:
            tests = [t for t in tests if not any(_same(t, f) for f in frames)]
        ase.io.write(paths[f"test_{test}"], [_labelled(t, case.stress) for t in tests], format="extxyz")
    return paths


def _same(a, b) -> bool:
    return len(a) == len(b) and bool((a.numbers == b.numbers).all()) and np.allclose(a.positions, b.positions, atol=1e-6)


# ---------------------------------------------------------------- training


def ictp_command(case: Case, paths: Dict[str, Path], run_dir: Path, epochs: int, seed: int,
                 overrides: List[str]) -> List[str]:  # fmt: skip
    import yaml

    config = dict(
        name="ictp", run_dir=str(run_dir), seed=seed, train_file=str(paths["train"]), valid_file=str(paths["valid"]),
        energy_key=KEYS["energy"], forces_key=KEYS["forces"], stress_key=KEYS["stress"], E0s=case.E0s,
        max_num_epochs=epochs, **MODEL, **RECIPE, virials_weight=1.0 if case.stress else 0.0,
    )  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir.parent / "ictp.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return [str(BIN / "ictp-train"), "--config", str(run_dir.parent / "ictp.yaml"), "--no-progress", *overrides]


def _mace_e0s(case: Case) -> str:
    if isinstance(case.E0s, str):
        return case.E0s
    from ase.data import atomic_numbers

    return str({atomic_numbers[k]: v for k, v in case.E0s.items()})


def mace_command(case: Case, paths: Dict[str, Path], run_dir: Path, epochs: int, seed: int,
                 extra: List[str]) -> List[str]:  # fmt: skip
    r = RECIPE
    args = dict(
        name="mace", seed=seed, work_dir=run_dir, train_file=paths["train"], valid_file=paths["valid"],
        energy_key=KEYS["energy"], forces_key=KEYS["forces"], stress_key=KEYS["stress"],
        virials_key=KEYS["virials"], E0s=_mace_e0s(case), model="MACE", r_max=MODEL["r_max"], num_channels=MODEL["num_channels"], max_L=MODEL["l_max_node"],
        max_ell=MODEL["l_max_edge"], correlation=MODEL["correlation"], num_interactions=MODEL["num_layers"],
        num_radial_basis=8, num_cutoff_basis=5, radial_MLP="[64,64,64]", MLP_irreps="16x0e",
        default_dtype=MODEL["default_dtype"], device="cpu", max_num_epochs=epochs,
        batch_size=r["batch_size"], valid_batch_size=r["valid_batch_size"], lr=MACE_LR, ema_decay=r["ema_decay"],
        weight_decay=r["weight_decay"], scheduler_patience=r["scheduler_patience"], lr_factor=r["lr_factor"],
        energy_weight=r["energy_weight"], forces_weight=r["forces_weight"],
        loss="virials" if case.stress else "weighted",
        error_table="PerAtomRMSEstressvirials" if case.stress else "PerAtomRMSE",
    )  # fmt: skip
    if case.stress:
        args.update(virials_weight=1.0, compute_stress=True)
    command = [str(BIN / "mace_run_train")] + [f"--{k}={v}" for k, v in args.items()]
    return command + ["--amsgrad", "--ema", "--save_cpu", *extra]


def _load_sampler(path: Path, stop: threading.Event):
    with open(path, "w") as handle:
        handle.write("time,load1\n")
        while not stop.is_set():
            handle.write(f"{time.time():.0f},{os.getloadavg()[0]:.2f}\n")
            handle.flush()
            stop.wait(30)


def train(commands: Dict[str, List[str]], run_dir: Path):
    """Run the codes' training commands at the same time, one thread each, sampling the load meanwhile."""
    stop = threading.Event()
    load_file = run_dir / f"load_{'_'.join(commands)}.csv"
    sampler = threading.Thread(target=_load_sampler, args=(load_file, stop), daemon=True)
    sampler.start()
    env = {**os.environ, **THREADS}
    running = {}
    for code, command in commands.items():
        (run_dir / code).mkdir(parents=True, exist_ok=True)
        log = open(run_dir / f"{code}.log", "w")
        running[code] = (subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=run_dir / code), log)
    for code, (process, log) in running.items():
        if process.wait() != 0:
            raise RuntimeError(f"{code} training failed (exit {process.returncode}); see {run_dir / (code + '.log')}")
        log.close()
    stop.set()


# ---------------------------------------------------------------- validation curves


def ictp_curve(run_dir: Path) -> Tuple[float, List[Dict[str, float]]]:
    """The time of the log's first line and, per epoch, the time of its line, validation E (meV/atom) and F (meV/Å) RMSE."""
    import csv

    stamps, lines = {}, (run_dir / "train.log").read_text().splitlines()
    start = datetime.strptime(lines[0][:19], "%Y-%m-%d %H:%M:%S").timestamp()
    for line in lines:
        match = re.match(r"(\S+ \S+) epoch (\d+):", line)
        if match:
            stamps[int(match.group(2))] = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    return start, [
        dict(epoch=int(r["epoch"]), time=stamps[int(r["epoch"])], e=float(r["valid_rmse_e_per_atom_meV"]),
             f=float(r["valid_rmse_f_meV_per_A"]))
        for r in rows
    ]  # fmt: skip


def mace_curve(run_dir: Path) -> Tuple[float, List[Dict[str, float]]]:
    """The same from MACE's log (``Epoch N: ... RMSE_E_per_atom= x meV, RMSE_F= y meV / A``)."""
    (log,) = [p for p in (run_dir / "logs").glob("*.log") if not p.name.endswith("_debug.log")]
    pattern = r"(\S+ \S+) INFO: Epoch (\d+): .*RMSE_E_per_atom=\s*([\d.naninf]+) meV, RMSE_F=\s*([\d.naninf]+) meV"
    curve, lines = [], log.read_text().splitlines()
    start = datetime.strptime(lines[0][:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    for line in lines:
        match = re.match(pattern, line)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            curve.append(dict(epoch=int(match.group(2)), time=stamp, e=float(match.group(3)), f=float(match.group(4))))
    return start, curve


def mace_model(run_dir: Path) -> Path:
    """MACE's final model: the Stage Two one if it trained a Stage Two."""
    models = sorted(run_dir.glob("*.model"))
    for suffix in ("_stagetwo.model", ".model"):
        found = [m for m in models if m.name.endswith(suffix) and "compiled" not in m.name]
        if found:
            return found[0]
    raise FileNotFoundError(f"no MACE model in {run_dir}")


# ---------------------------------------------------------------- evaluation (worker processes)


def evaluate_worker(code: str, model: str, files: List[str], out: str):
    """Errors of one model on the test files through its ASE calculator; writes JSON to ``out``."""
    import ase.io

    if code == "ictp":
        from ictp import ICTPCalculator
        from ictp.model import load_model

        calc = ICTPCalculator(model)
        parameters = sum(p.numel() for p in load_model(model).parameters())
    else:
        from mace.calculators import MACECalculator

        calc = MACECalculator(model_paths=model, device="cpu", default_dtype="float64")
        parameters = sum(p.numel() for p in calc.models[0].parameters())
    results = {"parameters": parameters, "tests": {}}
    for path in files:
        frames = ase.io.read(path, ":")
        errors = {"e": [], "e_atom": [], "f": [], "s": []}
        start = time.perf_counter()
        for atoms in frames:
            ref = atoms.copy()
            atoms.calc = calc
            d_e = atoms.get_potential_energy() - ref.info[KEYS["energy"]]
            errors["e"].append(d_e)
            errors["e_atom"].append(d_e / len(atoms))
            errors["f"].extend((atoms.get_forces() - ref.arrays[KEYS["forces"]]).ravel())
            if KEYS["stress"] in ref.info and atoms.pbc.all():
                errors["s"].extend((atoms.get_stress(voigt=False) - ref.info[KEYS["stress"]]).ravel())
        seconds = time.perf_counter() - start
        row = {"structures": len(frames), "seconds": seconds}
        for key, values in errors.items():
            if values:
                values = 1e3 * np.asarray(values)  # meV, meV/atom, meV/Å, meV/Å³
                row[f"{key}_rmse"], row[f"{key}_mae"] = float(np.sqrt(np.mean(values**2))), float(np.mean(np.abs(values)))
        results["tests"][Path(path).stem.removeprefix("test_")] = row
    Path(out).write_text(json.dumps(results, indent=1))


def evaluate(code: str, model: Path, files: List[Path], out: Path) -> Dict:
    command = [sys.executable, __file__, "--evaluate", code, str(model), str(out), *map(str, files)]
    done = subprocess.run(command, env={**os.environ, **THREADS}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"evaluating {model} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


# ---------------------------------------------------------------- summary


def summarise(curve: List[Dict[str, float]], start: float, target_f: Optional[float]) -> Dict[str, float]:
    """Seconds per epoch (after the first), time from the start of the log to the first validation F ≤ target
    (``None`` without a target)."""
    times = [c["time"] for c in curve]
    reached = [c for c in curve if target_f is not None and c["f"] <= target_f]
    return dict(
        epochs=len(curve),
        seconds_per_epoch=(times[-1] - times[0]) / max(len(times) - 1, 1),
        first_epoch_s=times[0] - start, total_s=times[-1] - start,
        time_to_target_s=(reached[0]["time"] - start) if reached else None,
        epoch_to_target=reached[0]["epoch"] if reached else None,
        final_valid_e=curve[-1]["e"], final_valid_f=curve[-1]["f"],
    )  # fmt: skip


def run_case(name: str, work: Path, epochs: int, seed: int, codes: List[str], label: str, ictp_overrides, mace_extra,
             reuse: bool, against: Optional[str] = None, archive: bool = False):  # fmt: skip
    """Train ``codes`` on case ``name`` (or, with ``reuse``, evaluate their finished runs again) and write results.json.

    A code can join a run directory that holds the other code's results (trained at another time, so its
    seconds per epoch were measured under another load: each code keeps its own load summary). Without a
    MACE run in this directory, ``against`` names the label whose MACE run (same case and seed) gives the
    target validation F. ``archive`` copies the results to :data:`ARCHIVE` (never over another run's).
    """
    case, work = CASES[name], work.resolve()
    run_dir = work / name / _directory_name(label, seed)
    kept = ARCHIVE / name / run_dir.name / "results.json"
    if archive and kept.exists() and not reuse:
        raise FileExistsError(f"{kept} already holds a kept run of that name; choose another --label")
    if against is not None:
        if "mace" in codes:
            raise ValueError("--against is for ictp-only runs (--codes ictp); this run trains MACE: drop --against")
        against_target = mace_target(work, name, against, seed)
    paths = prepare(name, work / name / "data")
    results_file = run_dir / "results.json"
    if reuse:
        commands = json.loads((run_dir / "commands.json").read_text())
    else:
        previous = json.loads(results_file.read_text()) if results_file.exists() else None
        if previous is not None:
            taken = sorted(set(codes) & set(previous["codes"]))
            if taken:
                raise FileExistsError(f"{run_dir} already holds results of {taken}; choose another --label "
                                      "(or --reuse to re-evaluate)")  # fmt: skip
            if previous["epochs"] != epochs:
                done = previous["epochs"]
                raise ValueError(f"{run_dir} holds a run of {done} epochs; give --epochs {done}")
        run_dir.mkdir(parents=True, exist_ok=True)
        commands = {}
        if "ictp" in codes:
            commands["ictp"] = ictp_command(case, paths, run_dir / "ictp", epochs, seed, ictp_overrides)
        if "mace" in codes:
            commands["mace"] = mace_command(case, paths, run_dir / "mace", epochs, seed, mace_extra)
        commands_file = run_dir / "commands.json"
        earlier = json.loads(commands_file.read_text()) if commands_file.exists() else {}
        commands_file.write_text(json.dumps({**earlier, **commands}, indent=1))
        train(commands, run_dir)
    tests = [p for k, p in paths.items() if k.startswith("test_")]
    evaluated = {code: evaluate(code, _final_model(code, run_dir / code), tests, run_dir / f"{code}_test.json")
                 for code in commands}  # fmt: skip
    # read again: a run of the other code in the same directory may have finished meanwhile
    fresh = {"case": name, "label": label, "seed": seed, "epochs": epochs, "machine": _machine(), "model": MODEL,
             "recipe": {**RECIPE, "lr": _default_lrs()}, "commands": {}, "codes": {}}  # fmt: skip
    results = json.loads(results_file.read_text()) if results_file.exists() and not reuse else fresh
    results["commands"].update(commands)
    results["recipe"]["lr"] = {code: _learning_rate(code, command) for code, command in results["commands"].items()}
    for code, errors in evaluated.items():
        results["codes"][code] = {**errors, "load": _load_summary(_load_file(run_dir, code))}
    curves = {code: (ictp_curve if code == "ictp" else mace_curve)(run_dir / code) for code in results["codes"]}
    target, target_from = None, None  # MACE's final validation F, from this run or from --against's
    if "mace" in curves:
        target, target_from = curves["mace"][1][-1]["f"], str(run_dir.relative_to(work))
    elif against is not None:
        target, target_from = against_target
    results["target_valid_f"] = target
    results["target_from"] = target_from
    for code, (start, curve) in curves.items():
        results["codes"][code].update(summarise(curve, start, target), curve=curve)
    text = json.dumps(results, indent=1)
    results_file.write_text(text)
    if archive:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(text)
    print(format_table([results]))


def mace_target(work: Path, name: str, label: str, seed: int) -> Tuple[float, str]:
    """MACE's final validation F (meV/Å) of run ``label`` of case ``name`` and where it came from: the run
    directory in ``work`` if MACE finished there, else the ``results.json`` kept in :data:`ARCHIVE`."""
    run = _directory_name(label, seed)
    mace_dir = work / name / run / "mace"
    if list(mace_dir.glob("*.model")):
        return mace_curve(mace_dir)[1][-1]["f"], str(mace_dir.parent.relative_to(work))
    kept = ARCHIVE / name / run / "results.json"
    codes = json.loads(kept.read_text())["codes"] if kept.exists() else {}
    if "mace" in codes:
        return codes["mace"]["final_valid_f"], str(kept.relative_to(HERE.parent))
    raise FileNotFoundError(f"--against {label}: no finished MACE run in {mace_dir} and none kept in {kept.parent}; "
                            f"train one with --label {label} --seed {seed} --codes mace")  # fmt: skip


def _directory_name(label: str, seed: int) -> str:
    return label if seed == 0 else f"{label}-s{seed}"


def _default_lrs() -> Dict[str, float]:
    from ictp.training.config import TrainingConfig

    return {"ictp": TrainingConfig.lr, "mace": MACE_LR}


def _learning_rate(code: str, command: List[str]) -> float:
    """The learning rate ``command`` trains at: its last ``lr=`` (ictp) or ``--lr=`` (MACE), else the code's default."""
    prefix = "lr=" if code == "ictp" else "--lr="
    given = [float(arg[len(prefix) :]) for arg in command if arg.startswith(prefix)]
    return given[-1] if given else _default_lrs()[code]


def _load_file(run_dir: Path, code: str) -> Path:
    """The load samples taken while ``code`` trained (``load.csv`` in runs written before codes could join later)."""
    found = [p for p in run_dir.glob("load_*.csv") if code in p.stem.split("_")[1:]]
    return found[0] if found else run_dir / "load.csv"


def _final_model(code: str, run_dir: Path) -> Path:
    return run_dir / "model.pt" if code == "ictp" else mace_model(run_dir)


def _machine() -> str:
    import torch

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread"


def _load_summary(path: Path) -> Dict[str, float]:
    loads = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)[:, 1]
    return dict(mean=float(loads.mean()), min=float(loads.min()), max=float(loads.max()))


def _fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def format_table(all_results: List[Dict]) -> str:
    """One markdown row per case, code and test file."""
    head = ("| case | code | params | epochs | s/epoch | load (mean) | test | E RMSE (meV) | E MAE (meV) | E/atom MAE (meV) "
            "| F RMSE (meV/Å) | F MAE (meV/Å) | stress RMSE (meV/Å³) | valid F at end | time to MACE's final valid F (min) |")  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in all_results:
        for code, c in r["codes"].items():
            for test, t in c["tests"].items():
                lines.append(
                    f"| {r['case']} {_run_name(r)} | {code} | {c['parameters']:,} | {c['epochs']} | {c['seconds_per_epoch']:.1f} "
                    f"| {c.get('load', r.get('load'))['mean']:.2f} | {test} | {_fmt(t.get('e_rmse'))} | {_fmt(t.get('e_mae'))} "
                    f"| {_fmt(t.get('e_atom_mae'), 2)} | {_fmt(t.get('f_rmse'))} | {_fmt(t.get('f_mae'))} "
                    f"| {_fmt(t.get('s_rmse'), 2)} | {c['final_valid_f']:.1f} "
                    f"| {_time_to_target(r, c)} |"
                )
    return "\n".join(lines)


def _time_to_target(results: Dict, code_results: Dict) -> str:
    """Minutes to MACE's final validation F, ``not reached``, or ``no MACE run`` (an ictp-only run without ``--against``)."""
    if results.get("target_valid_f") is None:
        return "no MACE run"
    seconds = code_results["time_to_target_s"]
    return "not reached" if seconds is None else f"{seconds / 60:.1f}"


def _run_name(results: Dict) -> str:
    seed = results.get("seed", 0)  # results written before --seed existed used seed 0
    return results["label"] if seed == 0 else f"{results['label']} s{seed}"


def format_seed_table(all_results: List[Dict]) -> str:
    """For every (case, label, epochs) run with several seeds: mean [min–max] of the test errors per code and test."""
    groups: Dict[Tuple, List[Dict]] = {}
    for r in all_results:
        groups.setdefault((r["case"], r["label"], r["epochs"]), []).append(r)
    metrics = [("e_rmse", "E RMSE (meV)"), ("e_atom_mae", "E/atom MAE (meV)"), ("f_rmse", "F RMSE (meV/Å)"),
               ("f_mae", "F MAE (meV/Å)")]  # fmt: skip
    head = "| case | code | seeds | epochs | test | " + " | ".join(title for _, title in metrics) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (case, label, epochs), runs in groups.items():
        if len({r.get("seed", 0) for r in runs}) < 2:
            continue
        for code in sorted({code for r in runs for code in r["codes"]}):
            with_code = [r for r in runs if code in r["codes"]]
            seeds = ", ".join(str(r.get("seed", 0)) for r in with_code)
            for test in with_code[0]["codes"][code]["tests"]:
                cells = []
                for key, _ in metrics:
                    values = [r["codes"][code]["tests"][test].get(key) for r in with_code]
                    values = [v for v in values if v is not None]
                    digits = 2 if key == "e_atom_mae" else 1
                    if not values:
                        cells.append("–")
                        continue
                    low, mean, high = (f"{v:.{digits}f}" for v in (min(values), np.mean(values), max(values)))
                    cells.append(f"{mean} [{low}–{high}]")
                lines.append(f"| {case} {label} | {code} | {seeds} | {epochs} | {test} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", nargs="?", choices=sorted(CASES))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--work", type=Path, default=HERE.parent / "runs" / "accuracy")
    parser.add_argument("--codes", nargs="+", default=["ictp", "mace"], choices=["ictp", "mace"])
    parser.add_argument("--label", default="main", help="sub-directory of this run under WORK/CASE")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed of both codes (the split stays); not 0: LABEL-sSEED")  # fmt: skip
    parser.add_argument("--ictp", nargs="*", default=[], metavar="key=value", help="overrides for ictp-train")
    parser.add_argument("--mace", default="", metavar="'--flag=value ...'", help="extra mace_run_train flags (write --mace='...')")
    parser.add_argument("--reuse", action="store_true", help="evaluate the finished training runs of --label again")
    parser.add_argument("--against", metavar="LABEL",
                        help="time to the final validation F of LABEL's MACE run (same case and seed), for --codes ictp")  # fmt: skip
    parser.add_argument("--archive", action="store_true", help=f"keep results.json in {ARCHIVE.relative_to(HERE.parent)}")
    parser.add_argument("--table", type=Path, metavar="WORK", help="write WORK/results.md from every results.json")
    parser.add_argument("--evaluate", nargs="+", help=argparse.SUPPRESS)  # worker: CODE MODEL OUT FILE...
    args = parser.parse_args()
    if args.evaluate:
        code, model, out, *files = args.evaluate
        return evaluate_worker(code, model, files, out)
    if args.table:
        results = [json.loads(p.read_text()) for p in sorted(args.table.glob("*/*/results.json"))]
        text = format_table(results) + "\n"
        seeds = format_seed_table(results)
        if seeds:
            text += "\nMean [lowest–highest] over training seeds:\n\n" + seeds + "\n"
        (args.table / "results.md").write_text(text)
        return print(text)
    if args.case is None:
        parser.error("give a case or --table")
    run_case(args.case, args.work, args.epochs, args.seed, args.codes, args.label, args.ictp, shlex.split(args.mace),
             args.reuse, args.against, args.archive)  # fmt: skip


if __name__ == "__main__":
    main()
