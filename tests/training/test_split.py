"""The validation split: random or stratified by config_type, seeded, and refused when it cannot be drawn."""

from collections import Counter

import pytest

from ictp.training.config import load_config
from ictp.training.data import read_run_data


def split(path, **overrides):
    values = dict(train_file=str(path), E0s="average", batch_size=2) | overrides
    data = read_run_data(load_config(None, [f"{k}={v}" for k, v in values.items()]))
    return [s.configurations for s in (data.train, data.valid)]


@pytest.mark.parametrize("seed", range(4))
def test_stratified_split_holds_out_each_config_type_in_proportion(typed_data, seed):
    train, valid = split(typed_data, valid_count=3, valid_split="stratified", seed=seed)
    assert Counter(c.config_type for c in valid) == {"bulk": 2, "surface": 1}  # quotas 2, 0.75, 0.25
    assert Counter(c.config_type for c in train) == {"bulk": 6, "surface": 2, "vacancy": 1}
    assert {id(c) for c in train}.isdisjoint(id(c) for c in valid)


def test_splits_are_seeded(typed_data):
    for mode in ("random", "stratified"):
        first, again, other = (split(typed_data, valid_count=3, valid_split=mode, seed=s)[1] for s in (0, 0, 5))
        energies = [[c.energy for c in v] for v in (first, again, other)]
        assert energies[0] == energies[1] and sorted(energies[0]) != sorted(energies[2])


def test_random_split_can_take_a_whole_config_type(typed_data):
    """What stratified prevents: some seed of the random split holds out the only vacancy structure."""
    held = [any(c.config_type == "vacancy" for c in split(typed_data, valid_count=3, seed=s)[1]) for s in range(20)]
    assert any(held)


def test_stratified_split_that_would_empty_a_config_type_is_refused(typed_data):
    with pytest.raises(ValueError, match="cannot hold out 10 of 12 structures with valid_split: stratified"):
        split(typed_data, valid_count=10, valid_split="stratified")
    with pytest.raises(ValueError, match="valid_split must be 'random' or 'stratified'"):
        split(typed_data, valid_count=3, valid_split="by_type")
