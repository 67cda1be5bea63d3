"""The ASE example runs on a deployed file (few steps; the tiny model is untrained); the main job's script;
the Si example's stress correction."""

import importlib.util
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _example(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ase_md_example_runs(deployed_file, capsys):
    example = _example(EXAMPLES / "ase_md.py")
    example.main([str(deployed_file), "--steps", "3"])
    out = capsys.readouterr().out
    assert "BFGS" in out and "MD step    3" in out and "stress after" in out


def test_the_main_job_prints_the_test_errors_once():
    """ictp-train's report evaluates the YAML's test files; the script must not evaluate them again with ictp-eval."""
    script = (ROOT / "scripts" / "run_example.sh").read_text().splitlines()
    config = yaml.safe_load((EXAMPLES / "quickstart" / "train.yaml").read_text())
    assert "--config examples/quickstart/train.yaml" in " ".join(script) and config["test_file"]
    evaluations = [line for line in script if "ictp-eval" in line and not line.lstrip().startswith("#")]
    assert not [line for line in evaluations for name in config["test_file"] if name in line]


def test_the_example_configs_are_valid_and_their_data_exist(monkeypatch, shared_data):
    """Every ``examples/*/train.yaml`` loads without an unknown key or a bad value, and names files that exist
    (paths relative to the repository root, where the examples run)."""
    from ictp.training.config import load_config

    monkeypatch.chdir(ROOT)
    configs = sorted(EXAMPLES.glob("*/train.yaml"))
    assert {path.parent.name for path in configs} >= {"quickstart", "acac", "si"}
    written = {f"runs/data/mlearn_Si/{name}": shared_data / "mlearn_Zuo2020" / name
               for name in _example(EXAMPLES / "si" / "fix_stress.py").FILES}  # by examples/si/run.sh
    for path in configs:
        config = load_config(str(path), [])
        for name in [config.train_file, config.valid_file, *config.test_file]:
            assert name is None or Path(written.get(name, name)).is_file(), f"{path}: {name} does not exist"


def test_the_si_example_puts_each_shear_stress_where_its_shear_strain_is(shared_data, tmp_path, capsys):
    """A diamond cell sheared in the ij plane (one off-diagonal cell element) can only have a shear stress σ_ij:
    the cubic mirrors forbid the other two. The shared files break this (σ_yz and σ_xz swapped); the copies
    written by fix_stress.py must obey it and keep energies, forces and the diagonal stresses."""
    import ase.io

    fix_stress = _example(EXAMPLES / "si" / "fix_stress.py")
    source = shared_data / "mlearn_Zuo2020"
    fix_stress.main(["--data", str(source), "--out", str(tmp_path)])
    fixed, shared = ase.io.read(tmp_path / "Si_train.xyz", ":"), ase.io.read(source / "Si_train.xyz", ":")
    sheared = 0
    for new, old in zip(fixed, shared):
        off_diagonal = [(i, j) for i in range(3) for j in range(3) if i != j and abs(new.cell[i, j]) > 1e-3]
        assert new.get_potential_energy() == old.get_potential_energy()
        np.testing.assert_array_equal(new.get_forces(), old.get_forces())
        stress = new.get_stress(voigt=False)
        np.testing.assert_allclose(np.diag(stress), np.diag(old.get_stress(voigt=False)), rtol=1e-9, atol=1e-12)
        if new.info["config_type"] != "Elastic" or len(off_diagonal) != 1:
            continue
        (i, j), = off_diagonal
        others = [stress[a, b] for a, b in ((1, 2), (0, 2), (0, 1)) if {a, b} != {i, j}]
        assert abs(stress[i, j]) > 1e-3 and np.abs(others).max() < 1e-6 * abs(stress[i, j]), (new.cell[:], stress)
        sheared += 1
    assert sheared >= 10  # the three shear series of the training file
    fix_stress.main(["--data", str(source), "--out", str(tmp_path)])
    assert capsys.readouterr().out.count("exists; kept (--force rewrites it)") == 2
