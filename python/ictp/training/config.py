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
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, get_args, get_origin, get_type_hints

import yaml

from ..model.config import ModelConfig

__all__ = ["LEGACY_DEFAULTS", "RESUMABLE_KEYS", "TrainingConfig", "load_config", "parse_overrides", "resume_changes"]

YAML_NAMES = {"dtype": "default_dtype"}
"""Fields whose YAML key is another word (MACE's); every other key is the field's name."""

LEGACY_DEFAULTS = {
    "loss_reduction": "sum", "ema_warmup": False, "stage_two": False, "refit_shift": False, "radial_lr_factor": 1.0,
}  # fmt: skip
"""What ictp 0.1.0 did before these keys existed: a ``config.json`` without them resumes with these values."""


@dataclass
class TrainingConfig(ModelConfig):
    """Every setting of a training run: the paper's optimiser (arXiv:2405.14253, Sec. 5) with MACE's mean loss.

    The model's hyperparameters come from :class:`ictp.model.ModelConfig`:
    ``species`` defaults to the elements of the training data, ``seed`` also
    seeds the split and the batch order, ``dtype`` is ``default_dtype`` in YAML.
    """

    # Run
    name: str = "ictp"
    run_dir: Optional[str] = None  # default: runs/<name>
    device: str = "cpu"
    compile: bool = False  # training steps through torch.compile: faster after minutes of compiling (compiled.py)
    # Data
    train_file: Optional[str] = None
    valid_file: Optional[str] = None
    valid_fraction: float = 0.1
    valid_count: Optional[int] = None
    valid_split: str = "random"  # "random", or "stratified": each config_type held out in proportion (data.py)
    test_file: List[str] = field(default_factory=list)  # evaluated with model.pt (the kept model) at the end
    energy_key: str = "energy"
    forces_key: str = "forces"
    stress_key: str = "stress"
    virial_key: str = "virial"
    config_type_key: str = "config_type"
    config_type_weights: Dict[str, float] = field(default_factory=dict)  # loss weight per config_type (1 if not named)
    E0s: Union[str, Dict[str, float]] = "isolated"  # "isolated", "average" (least squares) or {element: eV}
    # Optimisation
    batch_size: int = 5
    valid_batch_size: int = 10
    max_num_epochs: int = 2000
    lr: float = 0.02  # twice the paper's and MACE's 0.01: measured better (docs/training.md)
    radial_lr_factor: float = 2.0  # the radial networks learn at twice the lr: measured better (docs/training.md)
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
    # Accuracy recipe (docs/training.md): loss normalisation, EMA warm-up, shift refit, Stage Two
    loss_reduction: str = "mean"  # "mean" (MACE: per-atom energies, per-component forces) or "sum" (the paper)
    ema_warmup: bool = True  # EMA decay min(ema_decay, (1+t)/(10+t)) at update t, as torch_ema
    refit_shift: bool = True  # least-squares per-species shift after every epoch (ictp.training.shift)
    init_basis_rms: Optional[float] = None  # RMS of each layer's atomic basis before the first step (basis_init)
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
        if self.valid_split not in ("random", "stratified"):
            raise ValueError(
                f"valid_split must be 'random' or 'stratified' (each {self.config_type_key} held out in "
                f"proportion), got {self.valid_split!r}"
            )
        for name in ("batch_size", "valid_batch_size", "max_num_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        self._check_ranges()
        self._check_model()
        self._check_device()
        self._check_recipe()
        return self

    def _check_recipe(self):
        """The loss reduction and Stage Two; fills in the default start of Stage Two (recorded in config.json)."""
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
        _check_weights(self, ("stage_two_energy_weight", "stage_two_forces_weight", "stage_two_virials_weight"))
        if not (math.isfinite(self.stage_two_lr) and self.stage_two_lr > 0):
            raise ValueError(f"stage_two_lr must be a positive number, got {self.stage_two_lr}")

    def _check_ranges(self):
        """Loss weights, regularisation and schedule settings inside the range where they mean something."""
        _check_weights(self, ("energy_weight", "forces_weight", "virials_weight"))
        weights = self.config_type_weights
        if not isinstance(weights, dict) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
            for w in weights.values()
        ):
            raise ValueError(
                f"config_type_weights must map config_types to finite numbers >= 0 (e.g. {{Surface: 5.0}}), "
                f"got {weights!r}"
            )
        self.config_type_weights = {str(t): float(w) for t, w in weights.items()}
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite number, got {self.lr}")
        if not (math.isfinite(self.radial_lr_factor) and self.radial_lr_factor > 0):
            raise ValueError(
                f"radial_lr_factor must be a positive number (1: the radial networks at lr), "
                f"got {self.radial_lr_factor}"
            )
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1) (0 or null: no EMA), got {self.ema_decay}")
        if not 0 < self.lr_factor < 1:
            raise ValueError(f"lr_factor must be between 0 and 1 (the factor the lr is reduced by), got {self.lr_factor}")
        rms = self.init_basis_rms
        if rms is not None and not (math.isfinite(rms) and rms > 0):
            raise ValueError(f"init_basis_rms must be a positive number (or null: no scaling), got {rms}")
        if self.clip_grad is not None and not self.clip_grad > 0:
            raise ValueError(f"clip_grad must be positive (or null: no clipping), got {self.clip_grad}")
        for name in ("patience", "scheduler_patience"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def _check_model(self):
        """The model's hyperparameters (:meth:`ModelConfig.check`, and the species if given), the test files."""
        if self.species is None:
            self.check()
        else:
            self.resolve()  # checks the species, then the rest
        if not all(isinstance(name, str) for name in self.test_file):
            raise ValueError(f"test_file must be a file name or a list of them, got {self.test_file!r}")
        _check_plot_names(self.test_file)

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


def _check_plot_names(test_files: Sequence[str]):
    """Each test file's parity plot (``<name>_parity.png`` in the run directory) must have a name of its own."""
    from ..evaluation.plots import parity_plot_path

    seen = {"valid_parity.png": "the validation structures"}
    for name in test_files:
        plot = parity_plot_path(Path("."), name).name
        if plot in seen:
            raise ValueError(
                f"test_file {name} would write its parity plot {plot} over that of {seen[plot]}; "
                f"rename or copy the file to another name"
            )
        seen[plot] = name


def _check_weights(config: TrainingConfig, names: Sequence[str]):
    """Loss weights: finite, >= 0, and not all 0 (the loss would be 0)."""
    for name in names:
        if not (math.isfinite(getattr(config, name)) and getattr(config, name) >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {getattr(config, name)}")
    if all(getattr(config, name) == 0 for name in names):
        raise ValueError(f"{', '.join(names)} are all 0: the loss would be 0; give at least one a weight > 0")


def _check_keys(keys: Sequence[str], source: str):
    known = _known_keys()
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(known)}"
            raise ValueError(f"unknown key {key!r} in {source}{hint}")


class _Loader(yaml.SafeLoader):
    """YAML with numbers such as ``5e-3`` read as floats (YAML 1.1, PyYAML's dialect, wants ``5.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"), list("-+0123456789.")
)


def _parse_yaml(text: str, source: str) -> Any:
    """The YAML value of ``text``; a syntax error is a one-line ValueError naming ``source`` and the place."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{source} is not valid YAML{where}: {problem}") from None


def parse_overrides(overrides: Sequence[str]) -> Dict[str, Any]:
    """``["lr=0.005", "radial_mlp=[32,32]"]`` → ``{"lr": 0.005, "radial_mlp": [32, 32]}`` (values parsed as YAML)."""
    out = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_yaml(value, f"the value of the override {item!r}")
    _check_keys(list(out), "the command-line overrides")
    return out


def load_config(path: Optional[Union[str, Path]] = None, overrides: Sequence[str] = ()) -> TrainingConfig:
    """Load a YAML config, apply ``key=value`` overrides, validate."""
    values: Dict[str, Any] = {}
    if path is not None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        loaded = _parse_yaml(Path(path).read_text(), str(path)) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of keys to values at the top level")
        _check_keys(list(loaded), str(path))
        values.update(loaded)
    values.update(parse_overrides(overrides))
    return TrainingConfig.from_dict(values).validate()


RESUMABLE_KEYS = ("max_num_epochs", "patience", "lr", "device", "compile")
"""What ``ictp-train --resume RUN key=value`` may change; every other key would change the model or the data
that the checkpoint and ``model.pt`` were made with."""


def resume_changes(saved: Dict[str, Any], config: TrainingConfig) -> Dict[str, Tuple[Any, Any]]:
    """``{key: (saved value, new value)}`` of what ``config`` changes in a run's saved settings (its config.json).

    ValueError naming the key for a change outside :data:`RESUMABLE_KEYS` (``run_dir`` is where the run is,
    not what it is, and may differ).
    """
    before = TrainingConfig.from_dict(saved).to_dict()  # fills keys that older runs did not have with defaults
    changes = {k: (before[k], v) for k, v in config.to_dict().items() if v != before[k] and k != "run_dir"}
    refused = [k for k in changes if k not in RESUMABLE_KEYS]
    if refused:
        old, new = changes[refused[0]]
        raise ValueError(
            f"{refused[0]} cannot change when resuming (the run has {refused[0]}={old!r}, asked for {new!r}): it "
            f"changes the model or the data of the run; start a new run (another run_dir) instead. "
            f"On --resume only {', '.join(RESUMABLE_KEYS)} may change"
        )
    return changes
