"""The data of a training run: read, split and checked, and the statistics its model stores.

Isolated atoms in the training file only give reference energies E0; the other
structures are split into training and validation sets (seeded, or the
``valid_file``), and n̄, E0, scale and shift are computed on the training split
alone (:mod:`ictp.data.stats`).
"""

from dataclasses import dataclass
from typing import Any, Dict, List

import numpy as np
from ase.data import chemical_symbols

from ..data.dataset import GraphDataset
from ..data.extxyz import Configuration, read_configurations
from ..data.stats import (
    average_num_neighbors,
    fit_atomic_energies,
    is_isolated_atom,
    isolated_atom_energies,
    scale_and_shift,
)
from ..model.config import atomic_number
from .config import TrainingConfig

__all__ = ["RunData", "read_run_data"]


@dataclass
class RunData:
    """What a run trains and validates on, and the statistics its model stores."""

    train: GraphDataset
    valid: GraphDataset
    atomic_numbers: List[int]  # the model's species, in model order
    statistics: Dict[str, Any]  # avg_num_neighbors, atomic_energies, scale, shift: keywords of ictp.ICTP


def read_run_data(config: TrainingConfig) -> RunData:
    """Read, check and split the data, compute the statistics on the training split.

    Every input file is checked here, before the first epoch (the test files too, although they are
    evaluated only at the end): it exists and parses, its elements are the model's, it has the labels
    the loss needs, and its structures pass the geometric checks of :mod:`ictp.data.neighbors`.
    """
    configs = _read(config.train_file, config)
    isolated = [is_isolated_atom(c, config.r_max) for c in configs]
    train, valid = _split([c for c, i in zip(configs, isolated) if not i], config)
    tests = {path: _read(path, config) for path in config.test_file}
    numbers = sorted({int(z) for c in configs for z in c.atoms.numbers})
    if config.species:
        numbers = [atomic_number(s) for s in config.species]
    if len(train) < config.batch_size:
        raise ValueError(
            f"batch_size = {config.batch_size} is larger than the {len(train)} training structures: there would be "
            f"no full batch and no optimiser step; set batch_size <= {len(train)}"
        )
    _check_labels(train, "training structure", config)
    for path, structures in (({config.valid_file: valid} if config.valid_file else {}) | tests).items():
        _check_labels(structures, f"structure in {path}", config)
    for structures in (configs, valid, *tests.values()):
        _check_elements(structures, numbers)
    for structures in tests.values():
        GraphDataset(structures, numbers, config.r_max)  # the geometric checks, now rather than after training
    _check_config_type_weights(train, config)
    e0 = _reference_energies(train + [c for c, i in zip(configs, isolated) if i], numbers, config)
    train_set = GraphDataset(train, numbers, config.r_max, config.config_type_weights)
    scale, shift = scale_and_shift(train, numbers, e0)
    statistics = dict(
        avg_num_neighbors=average_num_neighbors(train_set.edge_counts()), atomic_energies=e0, scale=scale, shift=shift
    )
    valid_set = GraphDataset(valid, numbers, config.r_max, config.config_type_weights)
    return RunData(train_set, valid_set, numbers, statistics)


def _read(path, config: TrainingConfig) -> List[Configuration]:
    return read_configurations(path, **config.label_keys)


def _check_elements(structures: List[Configuration], numbers: List[int]):
    """Every element of every structure is one of the model's (named with the structure, before any graph)."""
    species = [chemical_symbols[z] for z in numbers]
    for config in structures:
        unknown = sorted({chemical_symbols[z] for z in config.atoms.numbers} - set(species))
        if unknown:
            raise ValueError(
                f"{config.where}: element(s) {unknown} not in the model's species {species} (from species, or the "
                "elements of train_file); add them to species and to the training data, or remove the structure"
            )


def _split(configs: List[Configuration], config: TrainingConfig):
    """(training, validation) structures: the ``valid_file``, or ``valid_count`` (else ``valid_fraction``) of
    ``configs`` drawn with ``seed``, at random or, with ``valid_split: stratified``, from each config_type in
    proportion to its size (largest remainders; every type keeps at least one training structure)."""
    if config.valid_file:
        return configs, _read(config.valid_file, config)
    count = config.valid_count if config.valid_count is not None else max(1, round(config.valid_fraction * len(configs)))
    if not 0 < count < len(configs):
        raise ValueError(f"cannot hold out {count} of {len(configs)} structures for validation")
    rng = np.random.default_rng(config.seed)
    if config.valid_split == "random":
        order = rng.permutation(len(configs))
        return [configs[k] for k in order[count:]], [configs[k] for k in order[:count]]
    groups: Dict[str, List[int]] = {}
    for k, c in enumerate(configs):
        groups.setdefault(c.config_type, []).append(k)
    counts = _proportional_counts({t: len(members) for t, members in groups.items()}, count)
    held = {int(k) for t, members in groups.items() for k in rng.permutation(members)[: counts[t]]}
    return [c for k, c in enumerate(configs) if k not in held], [c for k, c in enumerate(configs) if k in held]


def _proportional_counts(sizes: Dict[str, int], count: int) -> Dict[str, int]:
    """``count`` split over groups of the given sizes in proportion (largest remainders), at most size - 1 each."""
    total = sum(sizes.values())
    if count > total - len(sizes):
        raise ValueError(
            f"cannot hold out {count} of {total} structures with valid_split: stratified and every one of the "
            f"{len(sizes)} config_types keeping a training structure; lower valid_count / valid_fraction"
        )
    quota = {t: count * n / total for t, n in sizes.items()}
    counts = dict.fromkeys(sizes, 0)
    for _ in range(count):  # one at a time to the group furthest below its quota: largest remainders, capped
        t = max((t for t in sizes if counts[t] < sizes[t] - 1), key=lambda t: (quota[t] - counts[t], t))
        counts[t] += 1
    return counts


def _check_labels(structures: List[Configuration], what: str, config: TrainingConfig):
    """A loss term whose label no structure of a set has is a configuration error, not a silent zero;
    ``what`` names one of them in the message (``"training structure"``)."""
    needs = [("energy_weight", "energy", config.energy_key), ("forces_weight", "forces", config.forces_key),
             ("virials_weight", "stress", f"{config.stress_key}/{config.virial_key}")]  # fmt: skip
    for weight, label, key in needs:
        if getattr(config, weight) > 0 and all(getattr(c, label) is None for c in structures):
            raise ValueError(
                f"{weight} = {getattr(config, weight)} but no {what} has a {label} label "
                f"(looked for the key {key!r}); set the right key (e.g. {label}_key=...) or {weight}=0"
            )


def _check_config_type_weights(train: List[Configuration], config: TrainingConfig):
    """Every config_type given a weight is one of the training structures' (a misspelt name would weigh nothing)."""
    types = sorted({c.config_type for c in train})
    unknown = sorted(set(config.config_type_weights) - set(types))
    if unknown:
        raise ValueError(
            f"config_type_weights names {unknown}, but the training structures' config_types "
            f"({config.config_type_key!r} in {config.train_file}) are {types}; use those names"
        )


def _reference_energies(train: List[Configuration], numbers: List[int], config: TrainingConfig) -> np.ndarray:
    """E0 per species (eV) as ``config.E0s`` says: given, from isolated atoms, or fitted (``average``)."""
    if isinstance(config.E0s, dict):
        lookup = {atomic_number(k): float(v) for k, v in config.E0s.items()}
    elif config.E0s == "isolated":
        lookup = isolated_atom_energies(train, config.r_max)
    else:
        return fit_atomic_energies(train, numbers)
    missing = [chemical_symbols[z] for z in numbers if z not in lookup]
    if missing:
        raise ValueError(
            f"no reference energy E0 for {missing}: add isolated-atom structures (one atom, no neighbour within "
            f"r_max = {config.r_max} Å) to the training file, "
            "give E0s as {element: eV}, or set E0s: average"
        )
    return np.array([lookup[z] for z in numbers])
