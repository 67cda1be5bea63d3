"""The training configuration: YAML, overrides, validation and helpful errors."""

import pytest
import torch

from ictp.training.config import TrainingConfig, load_config, parse_overrides


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train_file: data.xyz\nnum_channels: 16\nradial_mlp: [32, 32]\nE0s: {H: -13.6, O: -2042.0}\n")
    config = load_config(path, ["lr=0.005", "num_channels=8", "test_file=[a.xyz, b.xyz]"])
    assert config.num_channels == 8 and config.lr == 0.005 and config.radial_mlp == [32, 32]
    assert config.E0s == {"H": -13.6, "O": -2042.0} and config.test_file == ["a.xyz", "b.xyz"]
    assert config.to_dict()["forces_weight"] == 10.0


def test_old_run_configs_with_default_dtype_still_load():
    values = TrainingConfig(train_file="a.xyz", dtype="float32").to_dict()
    assert values["default_dtype"] == "float32" and "dtype" not in values
    assert TrainingConfig.from_dict(values).dtype == "float32"


@pytest.mark.parametrize(
    "text,match",
    [("train_file: a.xyz\nmax_num_epoch: 3\n", "did you mean 'max_num_epochs'"),
     ("train_file: a.xyz\nenergy_keys: E\n", "did you mean 'energy_key'"),
     ("train_file: a.xyz\nzzz: 1\n", "valid keys"),
     ("num_channels: 8\n", "train_file is required"),
     ("train_file: a.xyz\nE0s: guess\n", "E0s must be"),
     ("train_file: a.xyz\ndefault_dtype: float16\n", "default_dtype"),
     ("- a\n- b\n", "mapping"),
     ("train_file: a.xyz\nlr: fast\n", "lr must be of type float, got 'fast'"),
     ("train_file: a.xyz\nbatch_size: 2.5\n", "batch_size must be of type int"),
     ("train_file: a.xyz\namsgrad: 1\n", "amsgrad must be of type bool"),
     ("train_file: a.xyz\ndevice: gpu0\n", "not a torch device")],
)  # fmt: skip
def test_config_errors_name_the_problem(tmp_path, text, match):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_config(path)


def test_override_errors():
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["lr"])
    with pytest.raises(ValueError, match="did you mean 'lr'"):
        parse_overrides(["lrr=0.1"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        load_config(None, ["train_file=a.xyz", "device=cuda"])
