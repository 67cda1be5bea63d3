"""Atomic writes: plain permissions, no temporaries left behind, nothing written on failure."""

import pytest

from ictp.files import atomic_save, atomic_write


def test_atomic_files_get_plain_permissions_and_leave_no_temporaries(tmp_path):
    (tmp_path / "plain").write_text("x")
    atomic_save({"a": 1}, tmp_path / "saved.pt")
    with pytest.raises(RuntimeError):
        atomic_write_failing(tmp_path / "failed.pt")
    assert (tmp_path / "saved.pt").stat().st_mode == (tmp_path / "plain").stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "saved.pt"]


def atomic_write_failing(path):
    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(b"half")
        raise RuntimeError("interrupted")

    atomic_write(path, write)
