"""PNG plots: parity plots of predictions against references, and loss curves of a run.

Figures are drawn with matplotlib's object interface and the Agg canvas, so
neither pyplot nor the global backend is touched.
"""

import csv
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import keys
from ..data.extxyz import Configuration

__all__ = ["parity_plot", "parity_plot_path", "loss_curves"]


def parity_plot_path(folder: Path, data_file: Path) -> Path:
    """Where the parity plot of a data file goes: ``folder/<name before the first dot>_parity.png``."""
    return Path(folder) / f"{Path(data_file).name.split('.')[0]}_parity.png"


def _save(figure: Figure, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=120)


def parity_plot(
    configurations: Sequence[Configuration], predictions: Sequence[Dict[str, np.ndarray]], path: Path, title: str = ""
):
    """Predicted vs reference energy per atom (eV/atom) and force components (eV/Å), one panel each."""
    panels = []
    pairs = [(c, p) for c, p in zip(configurations, predictions) if c.energy is not None]
    if pairs:
        ref = np.array([c.energy / len(c.atoms) for c, _ in pairs])
        pred = np.array([float(p[keys.ENERGY]) / len(c.atoms) for c, p in pairs])
        panels.append(("energy", "eV/atom", ref, pred))
    pairs = [(c, p) for c, p in zip(configurations, predictions) if c.forces is not None]
    if pairs:
        ref = np.concatenate([c.forces.ravel() for c, _ in pairs])
        pred = np.concatenate([p[keys.FORCES].ravel() for _, p in pairs])
        panels.append(("force components", "eV/Å", ref, pred))
    if not panels:
        return
    figure = Figure(figsize=(4.5 * len(panels), 4.3), layout="constrained")
    for k, (label, unit, ref, pred) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), k + 1)
        low, high = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        axes.plot([low, high], [low, high], color="0.6", lw=1)
        axes.scatter(ref, pred, s=4, alpha=0.5)
        rmse = float(np.sqrt(np.mean((pred - ref) ** 2)))
        axes.set(xlabel=f"reference {label} ({unit})", ylabel=f"predicted {label} ({unit})", title=f"RMSE {1e3 * rmse:.2f} m{unit}")
        axes.set_aspect("equal", adjustable="datalim")
    if title:
        figure.suptitle(title)
    _save(figure, path)


def loss_curves(metrics_csv: Path, path: Path):
    """Training and validation loss and validation RMSEs against the epoch, log scale."""
    with open(metrics_csv) as handle:
        rows: List[Dict[str, str]] = list(csv.DictReader(handle))
    if not rows:
        return
    epoch = [int(r["epoch"]) for r in rows]
    column = lambda name: [float(r[name]) for r in rows]  # noqa: E731
    figure = Figure(figsize=(10, 4), layout="constrained")
    losses, errors = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    losses.semilogy(epoch, column("train_loss"), label="train (live weights, over the epoch)")
    losses.semilogy(epoch, column("valid_loss"), label="validation (EMA weights)")
    losses.set(xlabel="epoch", ylabel="loss", title="loss")
    losses.legend()
    errors.semilogy(epoch, column("valid_rmse_e_per_atom_meV"), label="E RMSE (meV/atom)")
    errors.semilogy(epoch, column("valid_rmse_f_meV_per_A"), label="F RMSE (meV/Å)")
    errors.set(xlabel="epoch", title="validation errors")
    errors.legend()
    _save(figure, path)
