"""The training configuration: one schema, loaded from YAML plus ``key=value`` overrides, then validated.

Keys that mean the same as in MACE keep MACE's names (``train_file``,
``valid_fraction``, ``E0s``, ``energy_key``, ``r_max``, ``batch_size``,
``max_num_epochs``, ``lr``, ``seed``, ``device``, ``default_dtype``, ``name``, …).
The model's hyperparameters are the fields of :class:`ictp.model.ModelConfig`,
which :class:`TrainingConfig` derives from; its ``dtype`` is spelled
``default_dtype`` in YAML (MACE's name). An unknown key is an error that
suggests the closest valid one.
"""

import dataclasses
import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union, get_args, get_origin, get_type_hints

import yaml

from ..model.config import ModelConfig

__all__ = ["LEGACY_DEFAULTS", "TrainingConfig", "load_config", "parse_overrides"]

YAML_NAMES = {"dtype": "default_dtype"}
"""Fields whose YAML key is another word (MACE's); every other key is the field's name."""

LEGACY_DEFAULTS = {"loss_reduction": "sum", "ema_warmup": False, "stage_two": False}
"""What ictp 0.1.0 did before these keys existed: a ``config.json`` without them resumes with these values."""


@dataclass
class TrainingConfig(ModelConfig):
    """Every setting of a training run, with the paper's recipe as defaults (arXiv:2405.14253, Sec. 5).

    The model's hyperparameters come from :class:`ictp.model.ModelConfig`:
    ``species`` defaults to the elements of the training data, ``seed`` also
    seeds the split and the batch order, ``dtype`` is ``default_dtype`` in YAML.
    """

    # Run
    name: str = "ictp"
    run_dir: Optional[str] = None  # default: runs/<name>
    device: str = "cpu"
    # Data
    train_file: Optional[str] = None
    valid_file: Optional[str] = None
    valid_fraction: float = 0.1
    valid_count: Optional[int] = None
    test_file: List[str] = field(default_factory=list)  # evaluated with the best model at the end
    energy_key: str = "energy"
    forces_key: str = "forces"
    stress_key: str = "stress"
    virial_key: str = "virial"
    config_type_key: str = "config_type"
    E0s: Union[str, Dict[str, float]] = "isolated"  # "isolated", "average" (least squares) or {element: eV}
    # Optimisation
    batch_size: int = 5
    valid_batch_size: int = 10
    max_num_epochs: int = 2000
    lr: float = 0.01
    amsgrad: bool = True
    weight_decay: float = 5e-7
    scheduler_patience: int = 50
    lr_factor: float = 0.8
    ema_decay: Optional[float] = 0.99
    patience: Optional[int] = None  # early stop after this many epochs without improvement
    clip_grad: Optional[float] = None
    energy_weight: float = 1.0
    forces_weight: float = 10.0
    virials_weight: float = 0.0
    # Accuracy recipe (docs/training.md): loss normalisation, EMA warm-up, Stage Two
    loss_reduction: str = "sum"  # "mean" (MACE: per-atom energies, per-component forces) or "sum" (the paper)
    ema_warmup: bool = False  # EMA decay min(ema_decay, (1+t)/(10+t)) at update t, as torch_ema
    stage_two: bool = False  # last part of the run with other loss weights and lr (MACE's --stage_two)
    start_stage_two: Optional[int] = None  # first epoch of Stage Two; default 3/4 of max_num_epochs
    stage_two_energy_weight: float = 1000.0
    stage_two_forces_weight: float = 100.0
    stage_two_virials_weight: float = 10.0
    stage_two_lr: float = 1e-3

    def validate(self) -> "TrainingConfig":
        """Check types and values; returns self."""
        if isinstance(self.test_file, str):
            self.test_file = [self.test_file]
        self._check_types()
        if not self.train_file:
            raise ValueError("train_file is required: the extended XYZ file with the training structures")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"default_dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if isinstance(self.E0s, str) and self.E0s not in ("isolated", "average"):
            raise ValueError(f"E0s must be 'isolated', 'average' or a mapping {{element: eV}}, got {self.E0s!r}")
        if not 0.0 < self.valid_fraction < 1.0 and self.valid_file is None and self.valid_count is None:
            raise ValueError(f"valid_fraction must be between 0 and 1, got {self.valid_fraction}")
        for name in ("batch_size", "valid_batch_size", "max_num_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        self._check_device()
        self._check_recipe()
        return self

    def _check_recipe(self):
        """The accuracy recipe's keys; fills in the default start of Stage Two (recorded in config.json)."""
        from .loss import REDUCTIONS

        if self.loss_reduction not in REDUCTIONS:
            raise ValueError(f"loss_reduction must be one of {REDUCTIONS}, got {self.loss_reduction!r}")
        if not self.stage_two:
            return
        if self.start_stage_two is None:
            self.start_stage_two = max(1, 3 * self.max_num_epochs // 4)
        if not 0 <= self.start_stage_two < self.max_num_epochs:
            raise ValueError(
                f"start_stage_two must be an epoch in [0, max_num_epochs = {self.max_num_epochs}), got "
                f"{self.start_stage_two}; lower it, raise max_num_epochs or set stage_two: false"
            )
        for name in ("stage_two_energy_weight", "stage_two_forces_weight", "stage_two_virials_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.stage_two_lr <= 0:
            raise ValueError(f"stage_two_lr must be positive, got {self.stage_two_lr}")

    def _check_device(self):
        from ..devices import resolve_device

        resolve_device(self.device)

    def _check_types(self):
        """Plain fields must hold their annotated type (an int is fine for a float, None for an Optional)."""
        accepted = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}
        for name, annotation in get_type_hints(TrainingConfig).items():
            args = [a for a in get_args(annotation) if a is not type(None)] if get_origin(annotation) is Union else [annotation]
            value = getattr(self, name)
            if value is None or len(args) != 1 or args[0] not in accepted:
                continue
            if not isinstance(value, accepted[args[0]]) or (isinstance(value, bool) and args[0] is not bool):
                raise ValueError(f"{name} must be of type {args[0].__name__}, got {value!r}")

    @property
    def label_keys(self) -> Dict[str, Optional[str]]:
        """Keyword arguments of :func:`ictp.data.extxyz.read_configurations` naming the labels."""
        return {f"{k}_key": getattr(self, f"{k}_key") for k in ("energy", "forces", "stress", "virial", "config_type")}

    @property
    def directory(self) -> Path:
        """Where everything of this run is written."""
        return Path(self.run_dir) if self.run_dir else Path("runs") / self.name

    def to_dict(self) -> Dict[str, Any]:
        """The settings by their YAML keys (what ``config.json`` stores)."""
        return {YAML_NAMES.get(k, k): v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "TrainingConfig":
        """The inverse of :meth:`to_dict`: settings by their YAML keys (not validated)."""
        field_of = {key: name for name, key in YAML_NAMES.items()}
        return cls(**{field_of.get(k, k): v for k, v in values.items()})


def _known_keys() -> List[str]:
    return [YAML_NAMES.get(f.name, f.name) for f in fields(TrainingConfig)]


def _check_keys(keys: Sequence[str], source: str):
    known = _known_keys()
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(known)}"
            raise ValueError(f"unknown key {key!r} in {source}{hint}")


def parse_overrides(overrides: Sequence[str]) -> Dict[str, Any]:
    """``["lr=0.005", "radial_mlp=[32,32]"]`` → ``{"lr": 0.005, "radial_mlp": [32, 32]}`` (values parsed as YAML)."""
    out = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    _check_keys(list(out), "the command-line overrides")
    return out


def load_config(path: Optional[Union[str, Path]] = None, overrides: Sequence[str] = ()) -> TrainingConfig:
    """Load a YAML config, apply ``key=value`` overrides, validate."""
    values: Dict[str, Any] = {}
    if path is not None:
        with open(path) as handle:
            loaded = yaml.safe_load(handle) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of keys to values at the top level")
        _check_keys(list(loaded), str(path))
        values.update(loaded)
    values.update(parse_overrides(overrides))
    return TrainingConfig.from_dict(values).validate()
