"""The training loop: the paper's recipe (arXiv:2405.14253, Sec. 5; spec §4), resumable.

Adam with AMSGrad; weight decay only on the product-basis and "linear down"
weights; ReduceLROnPlateau on the validation loss; an exponential moving
average (EMA) of the weights used for validation, checkpoints and the final
model; the best EMA model by validation loss is kept. A checkpoint is written
atomically after every epoch, holding everything needed to continue exactly
(weights, EMA, optimiser, scheduler, epoch); batch order depends only on the
seed and the epoch, so a resumed run repeats an uninterrupted one.
"""

import csv
import json
import math
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch
from ase.data import atomic_numbers as ATOMIC_NUMBERS
from ase.data import chemical_symbols

from .. import __version__, keys
from ..data.dataset import GraphDataset
from ..data.extxyz import Configuration, read_configurations
from ..data.stats import average_num_neighbors, fit_atomic_energies, isolated_atom_energies, scale_and_shift
from ..model import ICTP, evaluate_batch
from .checkpoint import atomic_save, model_to_dict, save_model
from .config import TrainingConfig
from .loss import weighted_loss

__all__ = ["train", "ExponentialMovingAverage"]

MODEL_KEYS = (
    "r_max", "num_channels", "num_product_channels", "l_max_node", "l_max_edge", "correlation", "num_layers",
    "num_bessel", "polynomial_p", "radial_mlp", "readout_mlp", "product_basis", "odd_products", "representation",
)  # fmt: skip


class ExponentialMovingAverage:
    """Shadow copy of the parameters, ``s ← d·s + (1-d)·p`` after every step."""

    def __init__(self, parameters: Sequence[torch.nn.Parameter], decay: float):
        self.decay = decay
        self.shadow = [p.detach().clone() for p in parameters]

    @torch.no_grad()
    def update(self, parameters):
        for s, p in zip(self.shadow, parameters):
            s.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)

    @torch.no_grad()
    def swap(self, parameters):
        """Exchange shadow and live parameters (call twice to undo)."""
        for s, p in zip(self.shadow, parameters):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)


def _split(configs: List[Configuration], config: TrainingConfig):
    if config.valid_file:
        return configs, _read(config.valid_file, config)
    order = np.random.default_rng(config.seed).permutation(len(configs))
    count = config.valid_count if config.valid_count is not None else max(1, round(config.valid_fraction * len(configs)))
    if not 0 < count < len(configs):
        raise ValueError(f"cannot hold out {count} of {len(configs)} structures for validation")
    return [configs[k] for k in order[count:]], [configs[k] for k in order[:count]]


def _read(path, config: TrainingConfig) -> List[Configuration]:
    return read_configurations(
        path, config.energy_key, config.forces_key, config.stress_key, config.virial_key, config.config_type_key
    )


def _reference_energies(train: List[Configuration], numbers: List[int], config: TrainingConfig) -> np.ndarray:
    if isinstance(config.E0s, dict):
        lookup = {ATOMIC_NUMBERS[k]: float(v) for k, v in config.E0s.items()}
    elif config.E0s == "isolated":
        lookup = isolated_atom_energies(train)
    else:
        return fit_atomic_energies(train, numbers)
    missing = [chemical_symbols[z] for z in numbers if z not in lookup]
    if missing:
        raise ValueError(
            f"no reference energy E0 for {missing}: add isolated-atom structures to the training file, "
            "give E0s as {element: eV}, or set E0s: average"
        )
    return np.array([lookup[z] for z in numbers])


def _decay_groups(model: ICTP, weight_decay: float):
    """Weight decay only on the product basis and the interactions' linear-down maps."""
    decayed = [p for n, p in model.named_parameters() if n.startswith("products.") or ".linear_down." in n]
    ids = {id(p) for p in decayed}
    others = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]


def _validate(model, dataset: GraphDataset, config: TrainingConfig, device) -> Dict[str, float]:
    total, count_e, count_f, sse_e, sse_f = 0.0, 0, 0, 0.0, 0.0
    for start in range(0, len(dataset), config.valid_batch_size):
        batch = dataset.batch(range(start, min(start + config.valid_batch_size, len(dataset))), device)
        out = evaluate_batch(model, batch, virial=config.virials_weight > 0)
        loss, _ = weighted_loss(out, batch, config.energy_weight, config.forces_weight, config.virials_weight)
        total += loss.item()
        has_e = batch[keys.HAS_ENERGY]
        d_e = (out[keys.ENERGY].detach() - batch[keys.REF_ENERGY]) / batch[keys.NUM_ATOMS]
        sse_e += float((d_e[has_e] ** 2).sum())
        count_e += int(has_e.sum())
        mask = batch[keys.HAS_FORCES].index_select(0, batch[keys.BATCH])
        sse_f += float(((out[keys.FORCES].detach() - batch[keys.REF_FORCES])[mask] ** 2).sum())
        count_f += 3 * int(mask.sum())
    return {
        "valid_loss": total,
        "valid_rmse_e_per_atom_meV": 1e3 * math.sqrt(sse_e / max(count_e, 1)),
        "valid_rmse_f_meV_per_A": 1e3 * math.sqrt(sse_f / max(count_f, 1)),
    }


def train(config: TrainingConfig, resume: bool = False, log=print) -> Path:
    """Train a model as ``config`` says; returns the run directory (with ``model.pt`` at its top)."""
    config.validate()
    run_dir = config.directory
    checkpoint_path = run_dir / "checkpoint.pt"
    if resume and not checkpoint_path.exists():
        raise FileNotFoundError(f"cannot resume: {checkpoint_path} does not exist")
    if not resume and checkpoint_path.exists():
        raise FileExistsError(f"{run_dir} already holds a run; resume it or choose another name/run_dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(config.device)
    dtype = getattr(torch, config.default_dtype)

    configs = _read(config.train_file, config)
    isolated = [c for c in configs if len(c.atoms) == 1 and not c.atoms.pbc.any()]
    isolated_ids = {id(c) for c in isolated}
    train_configs, valid_configs = _split([c for c in configs if id(c) not in isolated_ids], config)
    numbers = sorted({int(z) for c in configs for z in c.atoms.numbers})
    if config.species:
        numbers = [ATOMIC_NUMBERS[s] for s in config.species]
    e0 = _reference_energies(train_configs + isolated, numbers, config)
    train_set = GraphDataset(train_configs, numbers, config.r_max)
    valid_set = GraphDataset(valid_configs, numbers, config.r_max)
    scale, shift = scale_and_shift(train_configs, numbers, e0)
    model = ICTP(
        numbers, **{k: getattr(config, k) for k in MODEL_KEYS}, avg_num_neighbors=average_num_neighbors(train_set.edge_counts()),
        atomic_energies=e0, scale=scale, shift=shift, dtype=dtype, seed=config.seed,
    ).to(device)  # fmt: skip
    optimizer = torch.optim.Adam(_decay_groups(model, config.weight_decay), lr=config.lr, amsgrad=config.amsgrad)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=config.lr_factor, patience=config.scheduler_patience
    )
    parameters = list(model.parameters())
    ema = ExponentialMovingAverage(parameters, config.ema_decay) if config.ema_decay else None
    start_epoch, best, best_epoch = 0, math.inf, -1
    if resume:
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"]["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.shadow = [t.to(device) for t in state["ema"]]
        start_epoch, best, best_epoch = state["epoch"] + 1, state["best"], state["best_epoch"]
    else:
        (run_dir / "config.json").write_text(
            json.dumps({"config": config.to_dict(), "ictp_version": __version__, "seed": config.seed}, indent=2)
        )
    log(f"run directory: {run_dir}  ({len(train_set)} train / {len(valid_set)} valid structures, "
        f"{sum(p.numel() for p in parameters):,} parameters)")  # fmt: skip

    metrics_path = run_dir / "metrics.csv"
    for epoch in range(start_epoch, config.max_num_epochs):
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        order = torch.randperm(len(train_set), generator=generator).tolist()
        train_loss = 0.0
        model.train()
        for start in range(0, len(order) - config.batch_size + 1, config.batch_size):  # drop_last
            batch = train_set.batch(order[start : start + config.batch_size], device)
            out = evaluate_batch(model, batch, virial=config.virials_weight > 0, create_graph=True)
            loss, _ = weighted_loss(out, batch, config.energy_weight, config.forces_weight, config.virials_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_grad:
                torch.nn.utils.clip_grad_norm_(parameters, config.clip_grad)
            optimizer.step()
            if ema is not None:
                ema.update(parameters)
            train_loss += loss.item()
        model.eval()
        if ema is not None:
            ema.swap(parameters)
        metrics = {"epoch": epoch, "train_loss": train_loss, **_validate(model, valid_set, config, device)}
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        if metrics["valid_loss"] < best:
            best, best_epoch = metrics["valid_loss"], epoch
            save_model(model, run_dir / "model.pt", config=config.to_dict(), ictp_version=__version__)
        if ema is not None:
            ema.swap(parameters)
        scheduler.step(metrics["valid_loss"])
        checkpoint = {
            "model": model_to_dict(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "ema": [s.clone() for s in ema.shadow] if ema is not None else [],
            "epoch": epoch, "best": best, "best_epoch": best_epoch,
        }  # fmt: skip
        atomic_save(checkpoint, checkpoint_path)
        with open(metrics_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(metrics))
            if handle.tell() == 0:
                writer.writeheader()
            writer.writerow(metrics)
        log(
            f"epoch {epoch}: train loss {train_loss:.4g}, valid loss {metrics['valid_loss']:.4g}, "
            f"E {metrics['valid_rmse_e_per_atom_meV']:.2f} meV/atom, F {metrics['valid_rmse_f_meV_per_A']:.1f} meV/Å"
        )
        if config.patience is not None and epoch - best_epoch >= config.patience:
            log(f"no improvement for {config.patience} epochs: stopping")
            break
    return run_dir
