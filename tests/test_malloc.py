"""ictp.malloc: the settings are accepted by this machine's C library, and only the command applies them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_accepts_the_settings():
    """In a process of its own: the settings are process-wide, and a rejected value (a threshold above glibc's
    32 MiB limit, say) makes mallopt return 0 and this test fail."""
    code = "import sys; from ictp.malloc import reuse_freed_memory; sys.exit(0 if reuse_freed_memory() else 3)"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(PYTHON_DIR)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_only_the_command_changes_malloc(monkeypatch, tmp_path):
    from ictp.training import cli

    calls = []
    monkeypatch.setattr(cli, "reuse_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(cli, "_main", lambda argv: 0)
    assert cli.main(["--config", str(tmp_path / "run.yaml")]) == 0  # a call from Python: left alone
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["ictp-train", "--config", str(tmp_path / "run.yaml")])
    assert cli.main() == 0
    assert calls == [1]
