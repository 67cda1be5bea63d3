"""pair_style ictp with compiled packages (.pt2): Python's results on one and several ranks; foreign or wrong packages refused."""

import ase.io
import numpy as np
import pytest
from lammps_helpers import EXAMPLE_MOLECULE, assert_agree, deck, python_results, run_lammps, sic, write_data

from ictp.testing import with_changed_metadata


@pytest.mark.parametrize("nprocs", [0, 2])
def test_periodic_cell_matches_python(tiny_model, compiled_file, tmp_path, nprocs):
    atoms = sic(2)
    write_data(atoms, tmp_path / "data.lmp")
    assert_agree(run_lammps(deck(compiled_file), tmp_path, nprocs), python_results(tiny_model, atoms))


def test_molecule_matches_python(tiny_model, compiled_file, tmp_path):
    atoms = ase.io.read(EXAMPLE_MOLECULE, index=0)
    atoms.positions += 10.0 - atoms.positions.min(0)
    write_data(atoms, tmp_path / "data.lmp", species=("H", "C", "N", "O"), box=(np.zeros(3), np.full(3, 30.0)))
    got = run_lammps(deck(compiled_file, boundary="f f f", elements="H C N O"), tmp_path)
    assert_agree(got, python_results(tiny_model, atoms))


def test_package_that_does_not_reproduce_its_results_is_refused(compiled_file, tmp_path):
    """The self-test at pair_coeff: what other libraries, another CPU or a corrupted copy would show."""

    def change(metadata):
        metadata["reference"][0]["energy"] += 0.5

    wrong = with_changed_metadata(compiled_file, tmp_path / "wrong.pt2", change)
    write_data(sic(1), tmp_path / "data.lmp")
    with pytest.raises(Exception, match="wrong.pt2 does not reproduce the results recorded at export: structure 0 energy"):
        run_lammps(deck(wrong), tmp_path)


@pytest.mark.parametrize("field, value, message", [
    ("torch_version", "1.13.0", "compiled for torch 1.13.0, and this is torch"),
    ("device", "cuda", "compiled for device cuda, not cpu"),
    ("cpu_flags", ["sve"], "instruction set, which this CPU lacks \\(no sve\\)"),
])  # fmt: skip
def test_package_compiled_elsewhere_is_refused(compiled_file, tmp_path, field, value, message):
    """Each mismatch is refused with the fix; the flag is sve, Arm's vector unit, so that no x86 CPU running this has it."""
    foreign = with_changed_metadata(compiled_file, tmp_path / "foreign.pt2", lambda m: m["compiled"].update({field: value}))
    write_data(sic(1), tmp_path / "data.lmp")
    with pytest.raises(Exception, match=f"{message}.*re-run ictp-deploy on this machine"):
        run_lammps(deck(foreign), tmp_path)
