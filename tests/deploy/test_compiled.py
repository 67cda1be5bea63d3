"""Compiled packages (``.pt2``): ghosts, tiny graphs, refusal of packages from elsewhere, the self-test, the cache."""

import time

import numpy as np
import pytest
import torch

from ictp import keys
from ictp.deploy import DeployedFileError, DeployedModel, load_deployed
from ictp.deploy.cli import main
from ictp.deploy.export import export, run
from ictp.model import save_model
from ictp.testing import with_changed_metadata


def random_graph(num_nodes, num_edges, num_species, seed):
    g = torch.Generator().manual_seed(seed)
    species = torch.randint(0, num_species, (num_nodes,), generator=g)
    edge_index = torch.randint(0, max(num_nodes, 1), (2, num_edges), generator=g)
    vectors = 2.5 * torch.randn(num_edges, 3, generator=g, dtype=torch.float64)
    return species, edge_index, vectors


@pytest.mark.parametrize("num_nodes, num_edges, num_local", [(1, 0, 1), (2, 1, 1), (3, 2, 0), (40, 300, 25)])
def test_any_graph_and_ghosts_equal_the_eager_contract(tiny_model, compiled_file, num_nodes, num_edges, num_local):
    """Graph sizes never traced, no edges at all, ghosts (num_local < N), a rank without local atoms."""
    module, _ = load_deployed(compiled_file)
    inputs = random_graph(num_nodes, num_edges, 5, seed=num_edges)
    got = run(module, *inputs, num_local, True, True)
    ref = run(DeployedModel(tiny_model), *inputs, num_local, True, True)
    assert set(got) == set(ref)
    for key in ref:
        assert got[key].shape == ref[key].shape and got[key].dtype == torch.float64, key
        a, b = got[key].numpy(), ref[key].numpy()
        error, scale = np.abs(a - b).max(initial=0), np.abs(b).max(initial=0)
        assert error <= 1e-10 * max(scale, 1.0), key


def test_package_for_another_torch_cpu_or_device_is_refused(compiled_file, tmp_path):
    changes = {
        "torch 1.13.0": lambda m: m["compiled"].update(torch_version="1.13.0"),
        "device cuda": lambda m: m["compiled"].update(device="cuda"),
        "instruction set": lambda m: m["compiled"].update(cpu_isa="sve512"),
    }
    for k, (message, change) in enumerate(changes.items()):
        foreign = with_changed_metadata(compiled_file, tmp_path / f"foreign{k}.pt2", change)
        with pytest.raises(DeployedFileError, match=f"compiled for .*{message}.*re-run ictp-deploy on this machine"):
            load_deployed(foreign)


def test_package_with_other_results_fails_its_self_test(compiled_file, tmp_path):
    """What a corrupted file, other libraries or another CPU would show: results off those recorded at export."""

    def change(metadata):
        metadata["reference"][1]["forces"][0][0] += 1e-6

    wrong = with_changed_metadata(compiled_file, tmp_path / "wrong.pt2", change)
    with pytest.raises(DeployedFileError, match="wrong.pt2.*structure 1 forces: relative error"):
        load_deployed(wrong)


def test_truncated_package_is_a_clear_error(compiled_file, tmp_path):
    data = compiled_file.read_bytes()
    (tmp_path / "half.pt2").write_bytes(data[: len(data) // 2])
    with pytest.raises(DeployedFileError, match="half.pt2 is not a deployed ictp model"):
        load_deployed(tmp_path / "half.pt2")


def test_redeploying_an_unchanged_model_reuses_the_compiled_package(tiny_model, compiled_file, tmp_path, capsys):
    save_model(tiny_model, tmp_path / "model.pt")
    start = time.perf_counter()
    assert main([str(tmp_path / "model.pt"), str(tmp_path / "again.pt2")]) == 0
    assert time.perf_counter() - start < 30
    err = capsys.readouterr().err
    assert "using the package compiled earlier" in err and "checking the file" in err
    assert main(["--info", str(tmp_path / "again.pt2")]) == 0
    info = capsys.readouterr().out
    assert "aotinductor" in info and f"torch {torch.__version__}, device cpu" in info


def test_format_by_suffix_or_option(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="suffix .pt2 .* or .pth"):
        export(tiny_model, tmp_path / "model.bin")
    metadata = export(tiny_model, tmp_path / "model.bin", file_format="torchscript")
    assert metadata["format"] == "torchscript"
    module, _ = load_deployed(tmp_path / "model.bin")
    assert isinstance(module, torch.jit.ScriptModule)


def test_energies_of_ghosts_are_not_counted(tiny_model, compiled_file, triclinic_cell):
    module, _ = load_deployed(compiled_file)
    species, edge_index, vectors = random_graph(12, 80, 5, seed=3)
    all_local = run(module, species, edge_index, vectors, 12)
    some_local = run(module, species, edge_index, vectors, 7)
    assert some_local[keys.ENERGIES].shape == (7,)
    np.testing.assert_allclose(some_local[keys.ENERGY], all_local[keys.ENERGIES][:7].sum(), rtol=1e-12)
