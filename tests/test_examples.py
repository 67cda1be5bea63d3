"""The ASE example runs on a deployed file (few steps; the tiny model is untrained); the main job's script."""

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def test_ase_md_example_runs(deployed_file, capsys):
    spec = importlib.util.spec_from_file_location("ase_md", EXAMPLES / "ase_md.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
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
    for path in configs:
        config = load_config(str(path), [])
        for name in [config.train_file, config.valid_file, *config.test_file]:
            assert name is None or Path(name).is_file(), f"{path}: {name} does not exist"
