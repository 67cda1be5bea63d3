"""``ictp-deploy``: write a training model file (``model.pt``) as a deployed file, or describe one (``--info``)."""

import argparse
import sys
from typing import Any, Dict, List, Optional

from ..model import load_model
from .export import export, load_deployed

__all__ = ["main", "describe"]


def describe(path: str, metadata: Dict[str, Any]) -> str:
    """A deployed file's metadata as readable lines."""
    energy, length = metadata["units"]["energy"], metadata["units"]["length"]
    energies = ", ".join(f"{symbol} {value:.6g}" for symbol, value in metadata["atomic_energies"].items())
    hyper = ", ".join(f"{key}={value}" for key, value in metadata["hyperparameters"].items())
    lines = [
        f"{path}: deployed ictp model, format version {metadata['format_version']}",
        f"  written by      ictp {metadata['ictp_version']}, torch {metadata['torch_version']}",
        f"  species         {' '.join(metadata['species'])} (Z = {', '.join(map(str, metadata['atomic_numbers']))})",
        f"  r_max           {metadata['r_max']} {length}",
        f"  num_layers      {metadata['num_layers']} "
        f"(receptive field {metadata['num_layers'] * metadata['r_max']:g} {length})",
        f"  dtype           {metadata['dtype']}",
        f"  units           energy {energy}, length {length}",
        f"  atomic energies {energies} ({energy})",
        f"  hyperparameters {hyper}",
        f"  reference       {len(metadata['reference'])} structures:",
    ]
    for entry in metadata["reference"]:
        kind = "periodic" if all(entry["pbc"]) else "molecule"
        lines.append(f"    {len(entry['numbers'])} atoms, {kind}, energy {entry['energy']:.10g} {energy}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ictp-deploy",
        description="Write a trained ICTP model (model.pt) as a TorchScript file for LAMMPS and ASE, "
        "checked against the model on reference structures.",
    )
    parser.add_argument("model", nargs="?", help="training model file (model.pt)")
    parser.add_argument("output", nargs="?", help="deployed file to write (e.g. model.pth)")
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], help="precision of the deployed model (default: the model's)"
    )
    parser.add_argument("--device", default="cpu", help="device of the deployed model: cpu or cuda (default cpu)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.add_argument("--info", metavar="FILE", help="print a deployed file's metadata and exit (no export)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.info is None and (args.model is None or args.output is None):
        parser.error("give a model file and an output file, or --info FILE")
    try:
        if args.info is not None:
            _, metadata = load_deployed(args.info)
            print(describe(args.info, metadata))
            return 0
        metadata = export(load_model(args.model), args.output, dtype=args.dtype, device=args.device, force=args.force)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {args.output}: {' '.join(metadata['species'])}, r_max {metadata['r_max']} Å, {metadata['dtype']}; "
          f"matches the model on {len(metadata['reference'])} reference structures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
