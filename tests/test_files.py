"""Atomic writes: plain permissions, no temporaries left behind, nothing written on failure, errors that name
the file; outputs that never replace an input."""

import pytest

from ictp.files import atomic_save, atomic_write, check_output


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


def test_a_failed_torch_save_names_the_file(tmp_path, monkeypatch):
    def full_disk(obj, path):
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr("torch.save", full_disk)
    with pytest.raises(OSError, match=r"could not write .*checkpoint.pt: basic_ios::clear: iostream error; check free disk"):
        atomic_save({"a": 1}, tmp_path / "checkpoint.pt")
    assert list(tmp_path.iterdir()) == []


def test_outputs_never_replace_an_input_and_existing_files_only_with_force(tmp_path):
    (tmp_path / "t.xyz").write_text("structures")
    (tmp_path / "old.csv").write_text("table")
    for force in (False, True):
        with pytest.raises(ValueError, match="t.xyz is also an input"):
            check_output(tmp_path / "sub" / ".." / "t.xyz", [tmp_path / "t.xyz"], force)
    with pytest.raises(FileExistsError, match="old.csv exists; pass --force"):
        check_output(tmp_path / "old.csv", [tmp_path / "t.xyz"])
    check_output(tmp_path / "old.csv", [tmp_path / "t.xyz"], force=True)
    check_output(tmp_path / "new.csv", [tmp_path / "t.xyz"])
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_output(tmp_path, [], force=True)
