"""``ictp-deploy``: write a training model file (``model.pt``) as a deployed file, or describe one (``--info``)."""

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..files import check_output
from ..model import load_model
from .compiled import read_metadata
from .export import FORMATS, DeployedFileError, export

__all__ = ["main", "describe"]


def describe(path: str, metadata: Dict[str, Any]) -> str:
    """A deployed file's metadata as readable lines."""
    energy, length = metadata["units"]["energy"], metadata["units"]["length"]
    energies = ", ".join(f"{symbol} {value:.6g}" for symbol, value in metadata["atomic_energies"].items())
    hyper = ", ".join(f"{key}={value}" for key, value in metadata["hyperparameters"].items())
    lines = [
        f"{path}: deployed ictp model, {metadata.get('format', 'torchscript')}, format version "
        f"{metadata['format_version']}",
        f"  written by      ictp {metadata['ictp_version']}, torch {metadata['torch_version']}",
        f"  species         {' '.join(metadata['species'])} (Z = {', '.join(map(str, metadata['atomic_numbers']))})",
        f"  r_max           {metadata['r_max']} {length}",
        f"  num_layers      {metadata['num_layers']} "
        f"(receptive field {metadata['num_layers'] * metadata['r_max']:g} {length})",
        f"  dtype           {metadata['dtype']}",
        f"  units           energy {energy}, length {length}",
        f"  atomic energies {energies} ({energy})",
        f"  hyperparameters {hyper}",
        *([f"  compiled for    {_compiled_for(metadata['compiled'])}"] if "compiled" in metadata else []),
        f"  reference       {len(metadata['reference'])} structures:",
    ]
    for entry in metadata["reference"]:
        kind = "periodic" if all(entry["pbc"]) else "molecule"
        lines.append(f"    {len(entry['numbers'])} atoms, {kind}, energy {entry['energy']:.10g} {energy}")
    return "\n".join(lines)


def _compiled_for(compiled: Dict[str, Any]) -> str:
    return f"torch {compiled['torch_version']}, device {compiled['device']}, CPU instruction set {compiled['cpu_isa']}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ictp-deploy",
        description="Write a trained ICTP model (model.pt) as a deployed file for LAMMPS and ASE: a compiled "
        "package (model.pt2, AOTInductor: fast, for this machine's torch and CPU) or TorchScript (model.pth: "
        "portable, slower), checked against the model on reference structures.",
    )
    parser.add_argument("model", nargs="?", help="training model file (model.pt)")
    parser.add_argument("output", nargs="?", help="deployed file to write: model.pt2 (compiled) or model.pth (TorchScript)")
    parser.add_argument("--format", choices=sorted(FORMATS.values()), help="file format (default: by the suffix)")
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
            if not Path(args.info).is_file():
                raise FileNotFoundError(f"{args.info}: no such file")
            metadata = read_metadata(args.info)
            if metadata is None:
                raise DeployedFileError(f"{args.info} is not a deployed ictp model (no metadata.json in it)")
            print(describe(args.info, metadata))
            return 0
        check_output(args.output, [args.model], force=args.force)
        progress = lambda line: print(f"ictp-deploy: {line}", file=sys.stderr, flush=True)  # noqa: E731
        metadata = export(load_model(args.model), args.output, dtype=args.dtype, device=args.device, force=args.force,
                          file_format=args.format, log=progress)  # fmt: skip
    except (ValueError, RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {args.output}: {' '.join(metadata['species'])}, r_max {metadata['r_max']} Å, {metadata['dtype']}; "
          f"matches the model on {len(metadata['reference'])} reference structures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
