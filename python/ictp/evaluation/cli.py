"""``ictp-eval``: errors of a trained model on labelled extended XYZ files.

    ictp-eval runs/NAME/model.pt test.xyz [more.xyz ...] [--csv errors.csv] [--plots DIR] [--force]

Prints RMSE and MAE of total energy (meV), energy per atom (meV/atom), force
components (meV/Å) and stress components (GPa), per file and per config_type.
Nothing is written over an input, and no existing file is replaced without --force.
"""

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from ..devices import resolve_device
from ..files import check_output
from ..model import load_model
from .metrics import evaluate_files, format_table, write_csv
from .plots import parity_plot_path

__all__ = ["main"]


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _check_outputs(args):
    """Every file this run would write, checked before the evaluation: not an input, not existing unless
    ``--force``, not written twice, in a folder that exists (CSV) or can be made (plots)."""
    inputs = [args.model, *args.files]
    outputs = [args.csv] if args.csv else []
    if args.plots is not None:
        if args.plots.exists() and not args.plots.is_dir():
            raise NotADirectoryError(f"--plots {args.plots} is a file; give a folder")
        outputs += [parity_plot_path(args.plots, path) for path in args.files]
    for path in outputs:
        check_output(path, inputs, args.force)
    if args.csv and not args.csv.parent.is_dir():
        raise FileNotFoundError(f"the folder {args.csv.parent} of --csv {args.csv} does not exist; create it first")
    if len({path.resolve() for path in outputs}) < len(outputs):
        raise ValueError(
            "two outputs would have the same name (data files of the same name each give <name>_parity.png, "
            "or --csv is one of the plots); evaluate them separately or rename one"
        )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="ictp-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="model.pt written by ictp-train")
    parser.add_argument("files", type=Path, nargs="+", help="extended XYZ files with reference labels")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write parity plots (PNG) into DIR")
    parser.add_argument("--force", action="store_true", help="replace existing --csv and --plots files")
    parser.add_argument("--batch-size", type=_positive_int, default=10)
    parser.add_argument("--device", default="cpu")
    for label in ("energy", "forces", "stress", "virial", "config_type"):
        parser.add_argument(f"--{label.replace('_', '-')}-key", default=label, help=f"info/arrays key of the {label} (default: %(default)s)")
    args = parser.parse_args(argv)
    label_keys = {f"{k}_key": getattr(args, f"{k}_key") for k in ("energy", "forces", "stress", "virial", "config_type")}
    try:
        _check_outputs(args)
        model = load_model(args.model, resolve_device(args.device))
        rows = evaluate_files(model, args.files, label_keys, args.batch_size, args.device, args.plots)
        print(format_table(rows))
        if args.csv:
            write_csv(rows, args.csv)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"ictp-eval: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
