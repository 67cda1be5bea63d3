"""The ``ictp`` command: ``ictp doctor [--fix]`` checks (and compiles) the LAMMPS plugin."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ictp", description="Irreducible Cartesian Tensor Potentials")
    commands = parser.add_subparsers(dest="command", required=True)
    doctor = commands.add_parser("doctor", help="check that pair_style ictp works with the installed torch and lammps")
    doctor.add_argument("--fix", action="store_true", help="compile pair_style ictp for them if it is not yet")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from .lammps.doctor import main as doctor_main

        return doctor_main(fix=args.fix)
    return 2


if __name__ == "__main__":
    sys.exit(main())
