"""Mistakes in a deck or a model file stop LAMMPS with a message that says what to fix."""

import copy
import json

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
    with pytest.raises(Exception, match="comm must be layer or full, not half"):
        run_in_process("units metal\nread_data data.lmp\npair_style ictp comm half\n", folder)


def test_directory_as_model_path(folder):
    (folder / "models").mkdir()
    with pytest.raises(Exception, match="models is a directory, not a model file; give the .pt2 or .pth"):
        run(folder, folder / "models")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch sees a GPU")
def test_device_cuda_without_a_gpu(folder, model_file):
    with pytest.raises(Exception, match="device cuda asked for, but this torch sees no CUDA GPU.*use device cpu"):
        run_in_process(f"units metal\nread_data data.lmp\npair_style ictp device cuda\npair_coeff * * {model_file} Si C\n", folder)


def test_overlapping_atoms_name_their_ids(folder, model_file):
    """Two atoms at one place: an error naming them, not PotEng -nan or a minimizer spinning at step 0."""
    atoms = lammps_frame(ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True))
    atoms.positions[5] = atoms.positions[2] + 0.01
    write_data(atoms, folder / "data.lmp")
    for command in ("run 0", "minimize 1e-8 1e-8 100 1000"):
        with pytest.raises(Exception, match="atoms 3 and 6 are 0.0173 Angstrom apart, closer than 0.1 Angstrom"):
            run_in_process(f"units metal\nread_data data.lmp\npair_style ictp\npair_coeff * * {model_file} Si C\n"
                           f"{command}\n", folder)  # fmt: skip


def test_nan_results_stop_the_run(folder, model, tmp_path):
    """A model whose weights hold a NaN: LAMMPS stops with an error instead of printing -nan."""
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.readouts[-1].mlp.weights[0][0, 0] = float("nan")
    # the exporter itself refuses such a model (its reference results are NaN): write the file by hand
    path = tmp_path / "nan.pth"
    good = deploy_model(model, tmp_path / "good.pth")
    extra = {"metadata.json": ""}
    torch.jit.load(str(good), _extra_files=extra)
    metadata = json.loads(extra["metadata.json"])
    metadata["reference"] = []  # no self-test: what a run sees when the weights go bad
    torch.jit.save(torch.jit.script(DeployedModel(broken)), str(path), _extra_files={"metadata.json": json.dumps(metadata)})
    with pytest.raises(Exception, match="the model returned NaN or infinite values"):
        run(folder, path)


def test_memory_follows_the_atoms_not_their_ids(folder, model_file):
    """One rank folds ghosts through a hash of the local IDs: IDs up to 4.9e8 cost nothing."""
    import resource

    atoms = lammps_frame(ase.build.bulk("SiC", "zincblende", a=4.36, cubic=True).repeat(2))
    write_data(atoms, folder / "data.lmp")
    text = (folder / "data.lmp").read_text().split("Atoms # atomic\n\n")
    lines = [line.split() for line in text[1].strip().splitlines()]
    ids = "\n".join(" ".join([str(7_654_321 * (k + 1) + (k * 13)), *line[1:]]) for k, line in enumerate(lines))
    (folder / "data.lmp").write_text(text[0] + "Atoms # atomic\n\n" + ids + "\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(folder, model_file)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500, grown_mb  # an array by the largest ID (4.9e8 ints) would take 2 GB
