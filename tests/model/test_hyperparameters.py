"""One hyperparameter schema: the YAML keys, the constructor, model files and deployed files agree."""

from dataclasses import fields

import pytest
import torch

import ictp
from ictp.deploy.export import export
from ictp.model import ModelConfig, load_model, save_model
from ictp.training.config import YAML_NAMES, TrainingConfig, load_config

HYPERPARAMETERS = [f.name for f in fields(ModelConfig)]


def test_every_hyperparameter_is_a_yaml_key():
    yaml_keys = set(TrainingConfig().to_dict())
    assert {YAML_NAMES.get(name, name) for name in HYPERPARAMETERS} <= yaml_keys


def test_yaml_keys_reach_the_model(tmp_path):
    config = load_config(None, ["train_file=a.xyz", "num_channels=6", "radial_mlp=[8]", "default_dtype=float32", "seed=5"])
    model = ictp.ICTP(["H", "O"], config=config)
    assert model.dtype == torch.float32
    expected = {name: getattr(config, name) for name in HYPERPARAMETERS}
    assert model.hyperparameters == {**expected, "species": ["H", "O"], "num_product_channels": 6}


def test_constructor_model_file_and_deployed_file_store_the_same_hyperparameters(tmp_path):
    model = ictp.ICTP([1, "O"], r_max=3.0, num_channels=4, l_max_edge=2, radial_mlp=(8,), dtype=torch.float64)
    assert list(model.hyperparameters) == HYPERPARAMETERS
    assert model.hyperparameters["species"] == ["H", "O"] and model.hyperparameters["dtype"] == "float64"
    assert ictp.ICTP(**model.hyperparameters).hyperparameters == model.hyperparameters
    save_model(model, tmp_path / "model.pt")
    assert torch.load(tmp_path / "model.pt", weights_only=True)["hyperparameters"] == model.hyperparameters
    assert load_model(tmp_path / "model.pt").hyperparameters == model.hyperparameters
    assert export(model, tmp_path / "model.pth")["hyperparameters"] == model.hyperparameters


def test_hyperparameters_follow_the_current_dtype():
    model = ictp.ICTP(["H"], num_channels=4, radial_mlp=(8,)).to(torch.float32)
    assert model.hyperparameters["dtype"] == "float32"


def test_config_or_keywords_not_both():
    with pytest.raises(TypeError, match="not both"):
        ictp.ICTP(["H"], config=ModelConfig(), num_channels=4)
    with pytest.raises(TypeError, match="num_channel"):
        ictp.ICTP(["H"], num_channel=4)
