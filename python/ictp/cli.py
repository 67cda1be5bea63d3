"""The ``ictp`` command: ``ictp doctor`` checks the LAMMPS plugin."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ictp", description="Irreducible Cartesian Tensor Potentials")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check that pair_style ictp works with the installed lammps")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from .lammps.doctor import main as doctor

        return doctor()
    return 2


if __name__ == "__main__":
    sys.exit(main())
