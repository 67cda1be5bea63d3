"""``ictp-eval``: errors of a trained model on labelled extended XYZ files.

    ictp-eval runs/NAME/model.pt test.xyz [more.xyz ...] [--csv errors.csv] [--plots DIR]

Prints RMSE and MAE of total energy (meV), energy per atom (meV/atom), force
components (meV/Å) and stress components (GPa), per file and per config_type.
"""

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from ..devices import resolve_device
from ..model import load_model
from .metrics import evaluate_files, format_table, write_csv

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="ictp-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="model.pt written by ictp-train")
    parser.add_argument("files", type=Path, nargs="+", help="extended XYZ files with reference labels")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write parity plots (PNG) into DIR")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    for label in ("energy", "forces", "stress", "virial", "config_type"):
        parser.add_argument(f"--{label.replace('_', '-')}-key", default=label, help=f"info/arrays key of the {label} (default: %(default)s)")
    args = parser.parse_args(argv)
    label_keys = {f"{k}_key": getattr(args, f"{k}_key") for k in ("energy", "forces", "stress", "virial", "config_type")}
    try:
        model = load_model(args.model, resolve_device(args.device))
        rows = evaluate_files(model, args.files, label_keys, args.batch_size, args.device, args.plots)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"ictp-eval: error: {error}", file=sys.stderr)
        return 2
    print(format_table(rows))
    if args.csv:
        write_csv(rows, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
