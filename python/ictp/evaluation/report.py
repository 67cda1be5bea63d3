"""The report at the end of a training run: loss curves, a validation parity plot, errors on test files."""

from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import torch

from ..data.extxyz import Configuration
from ..model import load_model
from .metrics import evaluate_files, format_table, predict_configurations, write_csv
from .plots import loss_curves, parity_plot

__all__ = ["write_run_report"]


def write_run_report(
    run_dir: Path,
    valid: Sequence[Configuration],
    test_files: Sequence[str],
    label_keys: Dict[str, Optional[str]],
    batch_size: int,
    device: torch.device,
    log: Callable[[str], None] = print,
):
    """Write into ``run_dir`` what a finished run is judged by.

    ``loss.png`` from ``metrics.csv``; ``valid_parity.png`` of the kept model
    (``model.pt``) on the validation structures ``valid``; for ``test_files``
    their parity plots and ``test_errors.csv``, whose table also goes to ``log``.
    """
    loss_curves(run_dir / "metrics.csv", run_dir / "loss.png")
    model = load_model(run_dir / "model.pt", device)
    parity_plot(valid, predict_configurations(model, valid, batch_size, device), run_dir / "valid_parity.png", "validation")
    if not test_files:
        return
    rows = evaluate_files(model, test_files, label_keys, batch_size, device, plots=run_dir)
    write_csv(rows, run_dir / "test_errors.csv")
    log("errors of model.pt on the test files:\n" + format_table(rows))
