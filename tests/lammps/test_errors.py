"""Mistakes in a deck or a model file stop LAMMPS with a message that says what to fix."""

import ase.build
import pytest
import torch
from lammps_helpers import deploy_model, lammps_frame, run_in_process, write_data

from ictp.deploy import DeployedModel


@pytest.fixture
def folder(tmp_path):
    write_data(lammps_frame(ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True)), tmp_path / "data.lmp")
    return tmp_path


def run(folder, model_file, elements="Si C", before="", units="metal"):
    run_in_process(
        f"units {units}\n{before}\nread_data data.lmp\npair_style ictp\n"
        f"pair_coeff * * {model_file} {elements}\nrun 0\n",
        folder,
    )


def test_missing_model_file(folder):
    with pytest.raises(Exception, match="cannot read the model file .*nowhere.pth; write one with ictp-deploy"):
        run(folder, folder / "nowhere.pth")


def test_corrupt_model_file(folder):
    (folder / "bad.pth").write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(Exception, match="bad.pth is not a deployed ictp model \\(corrupt, truncated"):
        run(folder, folder / "bad.pth")


def test_file_without_metadata(folder, model):
    torch.jit.save(torch.jit.script(DeployedModel(model)), str(folder / "bare.pth"))
    with pytest.raises(Exception, match="bare.pth has no metadata.json; write the file with ictp-deploy"):
        run(folder, folder / "bare.pth")


def test_newer_format_version(folder, model):
    deploy_model(model, folder / "future.pth", format_version=3)
    with pytest.raises(Exception, match="format version 3, this plugin reads up to 2; update ictp"):
        run(folder, folder / "future.pth")


def test_element_not_in_model(folder, model_file):
    with pytest.raises(Exception, match="element O of type 2 is not in the model, which has: Si C"):
        run(folder, model_file, "Si O")


def test_wrong_number_of_elements(folder, model_file):
    with pytest.raises(Exception, match="one element \\(or NULL\\) for each of the 2 atom types, got 1"):
        run(folder, model_file, "Si")


def test_newton_pair_off(folder, model_file):
    with pytest.raises(Exception, match="requires newton pair on"):
        run(folder, model_file, before="newton off")


def test_units_lj(folder, model_file):
    with pytest.raises(Exception, match="units lj are not supported; use units metal"):
        run(folder, model_file, units="lj")


def test_swapped_types_warn_about_masses(folder, model_file):
    run(folder, model_file, "C Si")
    log = (folder / "log.lammps").read_text()
    assert "type 1 has mass 28.085 but is mapped to Z = 6" in log
    assert "type 1 -> C (Z = 6)" in log


def test_pair_style_keywords(folder, model_file):
    run_in_process(
        f"units metal\nread_data data.lmp\npair_style ictp device cpu threads 2\n"
        f"pair_coeff * * {model_file} Si C\nrun 0\n",
        folder,
    )
    assert "ICTP: device cpu, 2 torch thread(s) per rank" in (folder / "log.lammps").read_text()
    with pytest.raises(Exception, match="device must be auto, cpu, cuda or cuda:N, not gpu"):
        run_in_process("units metal\nread_data data.lmp\npair_style ictp device gpu\n", folder)
    with pytest.raises(Exception, match="unknown keyword cutoff"):
        run_in_process("units metal\nread_data data.lmp\npair_style ictp cutoff 5\n", folder)
