"""The ASE example runs on a deployed file (few steps; the tiny model is untrained)."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_ase_md_example_runs(deployed_file, capsys):
    spec = importlib.util.spec_from_file_location("ase_md", EXAMPLES / "ase_md.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main([str(deployed_file), "--steps", "3"])
    out = capsys.readouterr().out
    assert "BFGS" in out and "MD step    3" in out and "stress after" in out
