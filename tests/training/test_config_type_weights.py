"""config_type_weights: read into the training and validation sets, and refused when misspelt or not a weight."""

import pytest

from ictp import keys
from ictp.training.config import load_config
from ictp.training.data import read_run_data


def run_data(path, weights):
    return read_run_data(
        load_config(None, [f"train_file={path}", "E0s=average", "batch_size=2", "valid_count=3", f"config_type_weights={weights}"])
    )


def test_each_structure_gets_its_config_types_weight(typed_data):
    data = run_data(typed_data, "{surface: 5, vacancy: 0.5}")
    expected = {"bulk": 1.0, "surface": 5.0, "vacancy": 0.5}
    for dataset in (data.train, data.valid):
        weights = [graph[keys.WEIGHT].item() for graph in dataset.graphs]
        assert weights == [expected[c.config_type] for c in dataset.configurations]
    assert 5.0 in [graph[keys.WEIGHT].item() for graph in data.train.graphs]


def test_a_config_type_not_in_the_training_data_is_an_error(typed_data):
    with pytest.raises(ValueError, match=r"names \['Surface'\], but the training structures' config_types .* are "
                       r"\['bulk', 'surface', 'vacancy'\]; use those names"):  # fmt: skip
        run_data(typed_data, "{Surface: 5}")


@pytest.mark.parametrize("weights", ["{surface: -1}", "{surface: .nan}", "{surface: heavy}", "[surface]", "{surface: true}"])
def test_a_weight_that_is_not_a_number_at_least_0_is_an_error(typed_data, weights):
    with pytest.raises(ValueError, match="config_type_weights must map config_types to finite numbers >= 0"):
        run_data(typed_data, weights)
