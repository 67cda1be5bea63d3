"""Devices named by users: malformed names and GPUs that are not there are clear errors everywhere."""

import pytest
import torch

import ictp
from ictp.devices import resolve_device

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")


def test_cpu_and_malformed_names():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("gpu0")


@no_gpu
def test_cuda_without_a_gpu_in_the_calculator_and_the_exporter(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        ictp.ICTPCalculator(tiny_model, device="cuda")
    from ictp.deploy.export import export

    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        export(tiny_model, tmp_path / "model.pth", device="cuda:0")
    assert not (tmp_path / "model.pth").exists()
