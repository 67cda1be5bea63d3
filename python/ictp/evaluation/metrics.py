"""Predictions on labelled structures and their errors, per file and per ``config_type``.

Units of the reported errors: total energy meV, energy per atom meV/atom,
force components meV/Å, stress components GPa (1 eV/Å³ = 160.2177 GPa).
"""

import csv
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from ase.units import GPa

from .. import keys
from ..data.dataset import GraphDataset
from ..data.extxyz import Configuration, read_configurations
from ..files import atomic_write
from ..model import cell_volume, evaluate_batch, stress_from_virial
from .plots import parity_plot, parity_plot_path

__all__ = ["COLUMNS", "error_metrics", "evaluate_files", "format_table", "grouped_metrics", "predict_configurations", "write_csv"]

EV_PER_A3_IN_GPA = 1.0 / GPa

COLUMNS = {
    "e_rmse": "E RMSE (meV)", "e_mae": "E MAE (meV)",
    "e_atom_rmse": "E/atom RMSE (meV/atom)", "e_atom_mae": "E/atom MAE (meV/atom)",
    "f_rmse": "F RMSE (meV/Å)", "f_mae": "F MAE (meV/Å)",
    "s_rmse": "stress RMSE (GPa)", "s_mae": "stress MAE (GPa)",
}  # fmt: skip
"""Metric keys → labels with units, in the order they are reported."""


def predict_configurations(
    model, configurations: Sequence[Configuration], batch_size: int = 10, device="cpu"
) -> List[Dict[str, np.ndarray]]:
    """Energy (eV), forces (eV/Å) and, for periodic structures, stress (eV/Å³) of every structure (float64 numpy).

    A NaN or infinite prediction is a ValueError naming the structure, never a result.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    numbers = model.atomic_numbers.tolist()
    dataset = GraphDataset(configurations, numbers, model.r_max)
    periodic = [bool(c.atoms.pbc.all()) for c in configurations]
    out: List[Dict[str, np.ndarray]] = []
    for start in range(0, len(dataset), batch_size):
        indices = list(range(start, min(start + batch_size, len(dataset))))
        batch = dataset.batch(indices, torch.device(device))
        result = evaluate_batch(model, batch, virial=any(periodic[k] for k in indices))
        ptr, volume = batch[keys.PTR].tolist(), cell_volume(batch[keys.CELL])
        for b, k in enumerate(indices):
            item = {
                keys.ENERGY: result[keys.ENERGY][b].detach().double().cpu().numpy(),
                keys.FORCES: result[keys.FORCES][ptr[b] : ptr[b + 1]].detach().double().cpu().numpy(),
            }
            if periodic[k]:
                item[keys.STRESS] = stress_from_virial(result[keys.VIRIAL][b].detach().double(), volume[b]).cpu().numpy()
            bad = [key for key, value in item.items() if not np.isfinite(value).all()]
            if bad:
                raise ValueError(
                    f"{configurations[k].where or f'structure {k}'}: the model predicts NaN or infinite "
                    f"{' and '.join(bad)}; the model file may be broken (NaN weights), or the structure far "
                    "outside its training data"
                )
            out.append(item)
    return out


def _rmse_mae(errors: List[np.ndarray], scale: float):
    if not errors:
        return math.nan, math.nan
    flat = np.concatenate([np.ravel(e) for e in errors]) * scale
    return float(np.sqrt(np.mean(flat**2))), float(np.mean(np.abs(flat)))


def error_metrics(
    configurations: Sequence[Configuration], predictions: Sequence[Dict[str, np.ndarray]]
) -> Dict[str, float]:
    """RMSE and MAE (keys of :data:`COLUMNS`) over the structures that have each label; NaN where none has it."""
    d_e, d_e_atom, d_f, d_s = [], [], [], []
    for config, pred in zip(configurations, predictions):
        if config.energy is not None:
            d_e.append(pred[keys.ENERGY] - config.energy)
            d_e_atom.append(d_e[-1] / len(config.atoms))
        if config.forces is not None:
            d_f.append(pred[keys.FORCES] - config.forces)
        if config.stress is not None and keys.STRESS in pred:
            d_s.append(pred[keys.STRESS] - config.stress)
    metrics: Dict[str, float] = {}
    for name, errors, scale in (("e", d_e, 1e3), ("e_atom", d_e_atom, 1e3), ("f", d_f, 1e3), ("s", d_s, EV_PER_A3_IN_GPA)):
        metrics[f"{name}_rmse"], metrics[f"{name}_mae"] = _rmse_mae(errors, scale)
    return metrics


def grouped_metrics(
    configurations: Sequence[Configuration], predictions: Sequence[Dict[str, np.ndarray]], name: str
) -> List[Dict[str, object]]:
    """One row for all structures (``config_type`` "all") and one per ``config_type`` when there are several."""
    groups: Dict[str, List[int]] = {"all": list(range(len(configurations)))}
    types = sorted({c.config_type for c in configurations})
    if len(types) > 1:
        for t in types:
            groups[t] = [k for k, c in enumerate(configurations) if c.config_type == t]
    rows = []
    for group, members in groups.items():
        metrics = error_metrics([configurations[k] for k in members], [predictions[k] for k in members])
        rows.append({"file": name, "config_type": group, "structures": len(members), **metrics})
    return rows


def format_table(rows: List[Dict[str, object]], columns: Optional[Dict[str, str]] = None) -> str:
    """A plain-text table of metric rows; columns that are NaN in every row are left out."""
    columns = columns or COLUMNS
    shown = [k for k in columns if any(not math.isnan(r[k]) for r in rows)]
    header = ["file", "config_type", "structures"] + [columns[k] for k in shown]
    body = [[str(r["file"]), str(r["config_type"]), str(r["structures"])] + [f"{r[k]:.3f}" for k in shown] for r in rows]
    widths = [max(len(row[c]) for row in [header] + body) for c in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in [header] + body)


def evaluate_files(model, paths, label_keys: dict, batch_size: int = 10, device: str = "cpu", plots: Optional[Path] = None):
    """Metric rows (see :func:`grouped_metrics`) for each file; parity plots ``plots/<file>.png`` if asked."""
    rows = []
    for path in map(Path, paths):
        configurations = read_configurations(path, **label_keys)
        predictions = predict_configurations(model, configurations, batch_size, device)
        rows += grouped_metrics(configurations, predictions, path.name)
        if plots is not None:
            parity_plot(configurations, predictions, parity_plot_path(plots, path), title=path.name)
    return rows


def write_csv(rows: List[Dict[str, object]], path: Path):
    """Metric rows as CSV, one column per key (NaN where a label is missing), written atomically."""

    def write(tmp: str):
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)
