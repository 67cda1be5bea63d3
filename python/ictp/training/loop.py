"""The training loop (arXiv:2405.14253, Sec. 5; spec §4; the options in docs/training.md), resumable.

Optionally each layer's atomic basis scaled before the first step (:mod:`ictp.training.basis_init`);
Adam with AMSGrad, the radial networks at ``radial_lr_factor`` times the lr; the loss of
:mod:`ictp.training.loss`; weight decay only on
the product-basis and "linear down" weights; ReduceLROnPlateau on the
validation loss; an exponential moving average (EMA) of the weights used for
validation, checkpoints and the final model; the best EMA model by validation
loss is kept (in Stage Two, the last epoch's); the per-species energy shift is refitted by least squares after
every epoch (:mod:`ictp.training.shift`); the refit and validation run ictp's fused CPU kernels
where they can, the training steps the reference ones (or, with ``compile: true``, those compiled:
:mod:`ictp.training.compiled`); optionally a Stage Two at the end
(:mod:`ictp.training.stages`). A checkpoint is written
atomically after every epoch, holding everything needed to continue exactly
(weights, EMA, optimiser, scheduler, epoch); batch order depends only on the
seed and the epoch, so a resumed run repeats an uninterrupted one.
"""

import csv
import math
import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from tqdm import tqdm

from .. import __version__
from ..data.dataset import GraphDataset
from ..data.extxyz import Configuration, describe
from ..evaluation.report import write_run_report
from ..model import ICTP, evaluate_batch, save_model
from ..native import NativeBuildError
from .basis_init import scale_atomic_basis
from .checkpoint import load_checkpoint, save_checkpoint
from .compiled import CompiledForces
from .config import TrainingConfig, resume_changes
from .console import console_call
from .data import read_run_data
from .distributed import Distributed
from .ema import ExponentialMovingAverage
from .loss import TERMS, label_counts, reduce_terms, squared_errors, weighted_loss
from .rundir import claim_run_directory, read_run_config, write_run_config
from .shift import refit_shift
from .stages import in_stage_two, loss_weights, start_stage_two

__all__ = ["train"]


def _param_groups(model: ICTP, config: TrainingConfig):
    """Adam's parameter groups: weight decay only on the product basis and the interactions' linear-down
    maps; the radial networks in a group of their own at ``radial_lr_factor`` times the lr, where that
    is not 1 (so that the runs and checkpoints made before the factor existed keep their two groups).
    Each group's ``lr_scale`` is its lr over the base lr, which Stage Two and ``--resume lr=`` keep."""
    decayed = [p for n, p in model.named_parameters() if n.startswith("products.") or ".linear_down." in n]
    radial = [p for n, p in model.named_parameters() if ".radial." in n] if config.radial_lr_factor != 1.0 else []
    ids = {id(p) for p in decayed + radial}
    others = [p for p in model.parameters() if id(p) not in ids]
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay, "lr_scale": 1.0},
        {"params": others, "weight_decay": 0.0, "lr_scale": 1.0},
    ]
    if radial:
        groups.append({"params": radial, "weight_decay": 0.0, "lr_scale": config.radial_lr_factor})
    for group in groups:
        group["lr"] = config.lr * group["lr_scale"]
    return groups


def _not_finite(what: str, loss: float, epoch: int, structures: Sequence[Configuration], config: TrainingConfig):
    """The error that stops a run whose loss became NaN or infinite (nothing of that epoch is saved)."""
    return ValueError(
        f"epoch {epoch}: the {what} loss is {loss} on the batch of {describe(structures)}; nothing of epoch "
        f"{epoch} was saved. Check these structures' labels (units, huge values), or, if training diverged, "
        f"continue with a lower lr:  ictp-train --resume {config.directory} lr=..."
    )


def _validate(model, dataset: GraphDataset, config: TrainingConfig, weights, group: Distributed, epoch: int) -> Dict[str, float]:
    """Validation loss (with the epoch's loss ``weights``) and RMSEs; batches are dealt out over processes."""
    loss_sums, rmse_sums, counts = (dict.fromkeys(TERMS, 0.0) for _ in range(3))
    for start in group.share(list(range(0, len(dataset), config.valid_batch_size))):
        indices = range(start, min(start + config.valid_batch_size, len(dataset)))
        batch = dataset.batch(indices, group.device)
        out = evaluate_batch(model, batch, virial=weights[2] > 0)
        means = {k: v.item() for k, v in squared_errors(out, batch, "mean", weighted=False).items()}  # the RMSEs
        errors = {k: v.item() for k, v in squared_errors(out, batch, config.loss_reduction).items()}
        batch_counts = label_counts(batch)
        batch_loss, _ = reduce_terms(errors, weights, config.loss_reduction, batch_counts)
        if not math.isfinite(batch_loss):
            raise _not_finite("validation", batch_loss, epoch, [dataset.configurations[k] for k in indices], config)
        for name in TERMS:
            loss_sums[name] += errors[name]
            rmse_sums[name] += means[name]
            counts[name] += batch_counts[name]
    summed = group.sum([*loss_sums.values(), *rmse_sums.values(), *counts.values()])
    loss_sums, rmse_sums, counts = (dict(zip(TERMS, summed[k : k + 3])) for k in (0, 3, 6))
    total, _ = reduce_terms(loss_sums, weights, config.loss_reduction, counts)
    return {
        "valid_loss": total,
        "valid_rmse_e_per_atom_meV": 1e3 * math.sqrt(rmse_sums["energy"] / max(counts["energy"], 1)),
        "valid_rmse_f_meV_per_A": 1e3 * math.sqrt(rmse_sums["forces"] / max(counts["forces"], 1)),
    }


def _evaluation_kernels(model: ICTP, log) -> str:
    """The kernels of the shift refit and validation: ictp's fused CPU kernels where they run (the same
    numbers to rounding, in a third of the time), else the reference ones. Training steps always run the
    reference kernels, the only ones that differentiate the forces."""
    if model.scale.device.type != "cpu":
        return "reference"
    try:
        model.set_kernels("fused")
    except NativeBuildError as error:
        log(f"the fused CPU kernels cannot be compiled here ({error}); validation and the shift refit run the "
            "reference kernels, about 3x slower")  # fmt: skip
        return "reference"
    finally:
        model.set_kernels("reference")
    return "fused"


def _trim_metrics(path: Path, last_epoch: int):
    """Drop rows of epochs after the checkpoint (an interrupt between writing them and the checkpoint)."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) <= last_epoch]
    if len(kept) != len(lines):
        path.write_text("".join(kept))


def train(config: TrainingConfig, resume: bool = False, log: Callable[[str], None] = print, progress: bool = False) -> Path:
    """Train a model as ``config`` says; returns the run directory (with ``model.pt`` at its top).

    ``log`` receives one line per event; ``progress`` shows a progress bar over
    epochs. Under ``torchrun`` the processes share each global batch
    (:mod:`ictp.training.distributed`) and only rank 0 logs and writes.

    The run directory is claimed first (:mod:`ictp.training.rundir`): a new run refuses a folder with
    another run's output, and a second process is kept out. On ``resume``, ``config`` may differ from the
    run's ``config.json`` only in :data:`ictp.training.config.RESUMABLE_KEYS`; those changes are applied
    and logged. A run interrupted before its first epoch finished resumes from epoch 0.
    """
    config.validate()
    run_dir = config.directory
    main = int(os.environ.get("RANK", "0")) == 0  # only rank 0 of torchrun writes, so only it claims the folder
    if not main:
        log, progress = (lambda *_: None), False
    with claim_run_directory(run_dir, resume) if main else nullcontext():
        log(f"ictp-train {'resuming' if resume else 'starting'} run in {run_dir}")
        changes = resume_changes(read_run_config(run_dir), config) if resume else {}
        for key, (old, new) in changes.items():
            log(f"resuming with {key} = {new} (was {old})")
        group = Distributed(config.device)
        try:
            if group.world_size > config.batch_size:
                raise ValueError(
                    f"batch_size ({config.batch_size}) must be at least the number of processes ({group.world_size})"
                )
            valid = _run(config, resume, changes, log, progress, group)
        finally:
            group.close()
        if main:
            write_run_report(
                run_dir, valid, config.test_file, config.label_keys, config.valid_batch_size, group.device, log
            )
    return run_dir


def _run(
    config: TrainingConfig, resume: bool, changes: Dict[str, Tuple[Any, Any]], log, progress: bool, group: Distributed
) -> List[Configuration]:
    """The epochs of a run; returns the validation structures (for the report)."""
    run_dir = config.directory
    checkpoint_path = run_dir / "checkpoint.pt"
    run_dir.mkdir(parents=True, exist_ok=True)
    device = group.device
    data = read_run_data(config)
    train_set, valid_set = data.train, data.valid
    model = ICTP(data.atomic_numbers, config=config, **data.statistics).to(device)
    from_checkpoint = resume and checkpoint_path.exists()
    if config.init_basis_rms and not from_checkpoint:  # before the optimiser and the EMA copy the weights
        factors = scale_atomic_basis(model, train_set, config.init_basis_rms, config.valid_batch_size, group)
        log(f"atomic basis scaled to RMS {config.init_basis_rms:g}: factors {', '.join(f'{f:.3g}' for f in factors)}")
    optimizer = torch.optim.Adam(_param_groups(model, config), lr=config.lr, amsgrad=config.amsgrad)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=config.lr_factor, patience=config.scheduler_patience
    )
    parameters = list(model.parameters())
    ema = ExponentialMovingAverage(parameters, config.ema_decay, config.ema_warmup) if config.ema_decay else None
    start_epoch, best, best_epoch = 0, math.inf, -1
    if from_checkpoint:
        last_epoch, best, best_epoch = load_checkpoint(checkpoint_path, model, optimizer, scheduler, ema, device)
        start_epoch = last_epoch + 1
    elif resume:
        log("no epoch of this run had finished: starting it from epoch 0")
    if "lr" in changes:
        for param_group in optimizer.param_groups:
            param_group["lr"] = config.lr * param_group.get("lr_scale", 1.0)
    if group.is_main:
        if resume:
            _trim_metrics(run_dir / "metrics.csv", start_epoch - 1)
        if changes or not resume:
            write_run_config(run_dir, config)  # from here on the run can be resumed, with these settings
    log(f"run directory: {run_dir}  ({len(train_set)} train / {len(valid_set)} valid structures, "
        f"{sum(p.numel() for p in parameters):,} parameters, {group.world_size} process(es) on {device})")  # fmt: skip

    evaluation_kernels = _evaluation_kernels(model, log)
    compiled = CompiledForces(model) if config.compile else None
    if compiled is not None:
        log("compile: true: the first training step compiles the model (minutes on a CPU core; cached for later runs)")
    metrics_path = run_dir / "metrics.csv"
    with console_call():
        bar = tqdm(total=config.max_num_epochs, initial=start_epoch, unit="epoch", disable=not progress, dynamic_ncols=True)
    epoch = start_epoch - 1  # the last finished epoch, also when none is left to run
    for epoch in range(start_epoch, config.max_num_epochs):
        if start_stage_two(config, optimizer, epoch):
            best = math.inf
            log(f"Stage Two from epoch {epoch}: loss weights {loss_weights(config, epoch)}, lr {config.stage_two_lr:.3g}")
        weights = loss_weights(config, epoch)
        train_loss = _train_epoch(model, train_set, config, epoch, weights, optimizer, ema, group, compiled)
        model.eval()
        if ema is not None:
            ema.swap(parameters)
        model.set_kernels(evaluation_kernels)
        try:
            if config.refit_shift:  # the buffer is shared by the live and the EMA weights
                refit_shift(model, train_set, config.valid_batch_size, config.loss_reduction, group)
            validation = _validate(model, valid_set, config, weights, group, epoch)
        finally:
            model.set_kernels("reference")  # the training steps differentiate the forces
        metrics = {"epoch": epoch, "train_loss": group.sum([train_loss])[0], **validation}
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        improved = metrics["valid_loss"] < best
        if improved:
            best, best_epoch = metrics["valid_loss"], epoch
        if (improved or in_stage_two(config, epoch)) and group.is_main:
            save_model(model, run_dir / "model.pt", config=config.to_dict(), ictp_version=__version__)
        if ema is not None:
            ema.swap(parameters)
        if not in_stage_two(config, epoch):
            scheduler.step(metrics["valid_loss"])
        if group.is_main:
            _append_metrics(metrics_path, metrics)  # before the checkpoint: resume trims rows past it
            save_checkpoint(checkpoint_path, model, optimizer, scheduler, ema, epoch, best, best_epoch)
        summary = (
            f"train loss {metrics['train_loss']:.4g}, valid loss {metrics['valid_loss']:.4g}, "
            f"E {metrics['valid_rmse_e_per_atom_meV']:.2f} meV/atom, F {metrics['valid_rmse_f_meV_per_A']:.1f} meV/Å"
        )
        log(f"epoch {epoch}: {summary}, lr {metrics['lr']:.3g}")
        with console_call():
            bar.set_postfix_str(summary, refresh=False)
            bar.update(1)
        if config.patience is not None and epoch - best_epoch >= config.patience:
            log(f"no improvement for {config.patience} epochs: stopping")
            break
    with console_call():
        bar.close()
    kept = f"epoch {epoch} (Stage Two keeps its last)" if in_stage_two(config, epoch) else f"epoch {best_epoch}"
    log(f"best validation loss {best:.4g} at epoch {best_epoch}; model: {run_dir / 'model.pt'}, from {kept}")
    return valid_set.configurations


def _train_epoch(
    model, train_set: GraphDataset, config: TrainingConfig, epoch: int, weights, optimizer, ema, group,
    compiled: Optional[CompiledForces] = None,
) -> float:
    """One pass over the training set in a seeded order (drop_last) with the loss ``weights``, through the
    ``compiled`` evaluation where given (``compile: true``).

    Returns this process's part of the epoch's loss: summed over batches
    (``sum``) or averaged over them (``mean``).
    """
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = torch.randperm(len(train_set), generator=generator).tolist()
    parameters = list(model.parameters())
    train_loss, steps = 0.0, 0
    model.train()
    for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
        batch = train_set.batch(group.share(order[start : start + config.batch_size]), group.device)
        if compiled is not None:
            out = compiled(batch, virial=weights[2] > 0)
        else:
            out = evaluate_batch(model, batch, virial=weights[2] > 0, create_graph=True)
        counts = dict(zip(TERMS, group.sum(list(label_counts(batch).values()))))  # of the global batch
        loss, _ = weighted_loss(out, batch, *weights, config.loss_reduction, counts)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        group.sum_gradients(parameters)
        # the summed gradient is NaN on every process if the loss is on one: all of them stop, before the step
        gradient_norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        if not (torch.isfinite(loss) and torch.isfinite(gradient_norm)):
            structures = [train_set.configurations[k] for k in order[start : start + config.batch_size]]
            raise _not_finite("training", loss.item(), epoch, structures, config)
        if config.clip_grad:
            torch.nn.utils.clip_grad_norm_(parameters, config.clip_grad)
        optimizer.step()
        if ema is not None:
            ema.update(parameters)
        train_loss += loss.item()
        steps += 1
    return train_loss / max(steps, 1) if config.loss_reduction == "mean" else train_loss


def _append_metrics(path: Path, metrics: Dict[str, float]):
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(metrics))
        if handle.tell() == 0:
            writer.writeheader()
        writer.writerow(metrics)
