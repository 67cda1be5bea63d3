"""Reading labelled structures from extended XYZ."""

import gzip
import re

import ase
import ase.io
import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from ictp.data.extxyz import read_configurations


def write(path, frames):
    ase.io.write(path, frames, format="extxyz")
    return path


def labelled_cell(energy=-3.0, stress=None):
    atoms = ase.Atoms("Si2", positions=[[0, 0, 0], [1.4, 1.3, 1.2]], cell=[2.7, 2.8, 2.9], pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.arange(6.0).reshape(2, 3), stress=stress)
    return atoms


def test_standard_keys_nonstandard_keys_and_virials_agree(shared_data):
    """TiAl ships twice: standard keys, and the original file with `force` and a virial."""
    standard = read_configurations(shared_data / "TiAl_ace" / "TiAl.xyz", index=":20")
    original = read_configurations(
        shared_data / "TiAl_ace" / "TiAl_tutorial_original.xyz", forces_key="force", stress_key=None, index=":20"
    )
    for a, b in zip(standard, original):
        assert a.energy == b.energy and a.config_type == b.config_type == "FLD_TiAl"
        np.testing.assert_allclose(a.forces, b.forces)
        np.testing.assert_allclose(a.stress, b.stress, atol=1e-12)


def test_compressed_files_and_missing_labels(tmp_path):
    labelled = labelled_cell(stress=np.array([1.0, 2.0, 3.0, 0.1, 0.2, 0.3]))
    unlabelled = ase.Atoms("Si", cell=[3.0, 3.0, 3.0], pbc=True)
    plain = write(tmp_path / "data.xyz", [labelled, unlabelled])
    packed = tmp_path / "data.xyz.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        first, second = read_configurations(path)
        assert first.energy == -3.0
        np.testing.assert_allclose(first.stress, [[1.0, 0.3, 0.2], [0.3, 2.0, 0.1], [0.2, 0.1, 3.0]])
        assert second.energy is None and second.forces is None and second.stress is None


def test_molecule_keeps_its_info(shared_data):
    configs = read_configurations(shared_data / "AcAc" / "test_dihedral.xyz", index=":3")
    assert configs[0].forces is None  # the dihedral scan has energies only
    assert configs[0].energy is not None and "dihedral_angle" in configs[0].info


@pytest.mark.parametrize(
    "frame,kwargs,match",
    [
        (labelled_cell(energy=float("nan")), {}, "NaN"),
        (labelled_cell(), {"forces_key": "energy"}, "shape"),
    ],
)
def test_bad_labels_are_named(tmp_path, frame, kwargs, match):
    path = write(tmp_path / "bad.xyz", [frame])
    with pytest.raises(ValueError, match=f"bad.xyz, structure 0: .*{match}"):
        read_configurations(path, **kwargs)


def test_virial_of_a_molecule_is_an_error(tmp_path):
    atoms = ase.Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]])
    atoms.info["virial"] = np.eye(3).reshape(-1)
    with pytest.raises(ValueError, match="virial needs a periodic cell"):
        read_configurations(write(tmp_path / "m.xyz", [atoms]))


def test_unreadable_and_missing_files(tmp_path, monkeypatch):
    garbage = tmp_path / "garbage.xyz"
    garbage.write_text("3\nnot a header\nH 0 0\n")
    with pytest.raises(ValueError, match="could not read .*garbage.xyz"):
        read_configurations(garbage)
    with pytest.raises(FileNotFoundError, match="nothere.xyz' does not exist$"):
        read_configurations(tmp_path / "nothere.xyz")
    monkeypatch.chdir(tmp_path)
    here = "relative paths are read from the current folder, " + re.escape(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=here):
        read_configurations("nothere.xyz")
    with pytest.raises(IsADirectoryError, match="is a folder; name an extended XYZ file in it"):
        read_configurations(tmp_path)
    (tmp_path / "empty.xyz").write_text("")
    with pytest.raises(ValueError, match="empty.xyz' holds no structures"):
        read_configurations(tmp_path / "empty.xyz")
