"""The training configuration: YAML, overrides, validation and helpful errors."""

import pytest
import torch

from ictp.training.config import TrainingConfig, load_config, parse_overrides, resume_changes


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
     ("train_file: a.xyz\ndevice: gpu0\n", "not a torch device"),
     ("train_file: a.xyz\nforces_weight: -10\n", "forces_weight must be a finite number >= 0, got -10"),
     ("train_file: a.xyz\nenergy_weight: .nan\n", "energy_weight must be a finite number >= 0, got nan"),
     ("train_file: a.xyz\nvirials_weight: .inf\n", "virials_weight must be a finite number >= 0, got inf"),
     ("train_file: a.xyz\nenergy_weight: 0\nforces_weight: 0\n", "are all 0: the loss would be 0"),
     ("train_file: a.xyz\nema_decay: 1.0\n", r"ema_decay must be in \[0, 1\)"),
     ("train_file: a.xyz\nema_decay: -0.5\n", r"ema_decay must be in \[0, 1\)"),
     ("train_file: a.xyz\nweight_decay: -1e-7\n", "weight_decay must be a finite number >= 0"),
     ("train_file: a.xyz\nlr: .nan\n", "lr must be positive, got nan"),
     ("train_file: a.xyz\nlr_factor: 1.5\n", "lr_factor must be between 0 and 1"),
     ("train_file: a.xyz\nradial_lr_factor: 0\n", r"radial_lr_factor must be a positive number \(1: the radial"),
     ("train_file: a.xyz\ninit_basis_rms: 0\n", r"init_basis_rms must be .* \(or null: no scaling\), got 0"),
     ("train_file: a.xyz\ninit_basis_rms: -0.1\n", "init_basis_rms must be a positive number"),
     ("train_file: a.xyz\nr_max: 0\n", "r_max must be a positive number of Å, got 0"),
     ("train_file: a.xyz\nr_max: -2.5\n", "r_max must be a positive number of Å, got -2.5"),
     ("train_file: a.xyz\nradial_mlp: 64\n", r"radial_mlp must be a list of positive layer widths such as \[64, 64\], got 64"),
     ("train_file: a.xyz\nnum_channels: 0\n", "num_channels must be an integer >= 1, got 0"),
     ("train_file: a.xyz\nspecies: [H, C, O, Xx]\n", r"species \['H', 'C', 'O', 'Xx'\]: unknown element symbol 'Xx'"),
     ("train_file: a.xyz\nspecies: H\n", "species must be a list of elements"),
     ("train_file: a.xyz\ntest_file: [a.xyz, 3]\n", "test_file must be a file name or a list of them"),
     ("train_file: a.xyz\nradial_mlp: [64, 64\nlr: 0.1\n", "run.yaml is not valid YAML at line 3, column 3"),
     ("train_file: a.xyz\nlr: 0.1: 2\n", "run.yaml is not valid YAML at line 2")],
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


def test_numbers_in_scientific_notation_are_floats(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train_file: a.xyz\nlr: 5e-3\nweight_decay: 5E-7\nE0s: {H: -1.36e+1}\nname: 1e3run\n")
    config = load_config(path, ["clip_grad=1e2"])
    assert config.lr == 0.005 and config.weight_decay == 5e-7 and config.clip_grad == 100.0
    assert config.E0s == {"H": -13.6} and config.name == "1e3run"


def test_resume_may_change_only_epochs_patience_lr_and_device():
    saved = TrainingConfig(train_file="a.xyz", lr=0.01).to_dict()
    config = TrainingConfig.from_dict({**saved, "lr": 0.1, "max_num_epochs": 30, "run_dir": "moved/run"})
    assert resume_changes(saved, config) == {"lr": (0.01, 0.1), "max_num_epochs": (2000, 30)}
    for key, value in [("r_max", 3.0), ("num_channels", 8), ("radial_mlp", [16]), ("train_file", "b.xyz"),
                       ("species", ["H", "C"])]:  # fmt: skip
        with pytest.raises(ValueError, match=f"{key} cannot change when resuming .*only max_num_epochs, patience, lr"):
            resume_changes(saved, TrainingConfig.from_dict({**saved, key: value}))
