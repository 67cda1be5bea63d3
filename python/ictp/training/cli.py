"""``ictp-train``: train a model from a YAML config with ``key=value`` overrides, or resume a run.

    ictp-train --config run.yaml [key=value ...]
    ictp-train --resume runs/NAME [max_num_epochs=3000]
"""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

from tqdm import tqdm

from ..malloc import reuse_freed_memory
from .config import TrainingConfig, load_config, parse_overrides
from .console import console_call, ctrl_c_between_console_calls
from .loop import train
from .rundir import read_run_config

__all__ = ["main"]


class RunLog:
    """Log lines to the console (above the progress bar) and, time-stamped, to ``run_dir/train.log``.

    The file is opened at the first line (after the run has claimed its directory); under torchrun
    only rank 0 logs.
    """

    def __init__(self, path: Path):
        self.path = path
        self.handle = None
        self.enabled = int(os.environ.get("RANK", "0")) == 0

    def __call__(self, line: str):
        if not self.enabled:
            return
        if self.handle is None:
            self.handle = open(self.path, "a")
        with console_call():
            tqdm.write(line)
        self._write(line)

    def error(self, line: str):
        """A line for stderr, and for train.log if the run got as far as opening it."""
        if self.enabled:
            print(line, file=sys.stderr, flush=True)
            self._write(line)

    def _write(self, line: str):
        if self.handle is not None:
            self.handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
            self.handle.flush()

    def close(self):
        if self.handle is not None:
            self.handle.close()


def resumed_config(run_dir: Path, overrides: List[str]) -> TrainingConfig:
    """The config a run was started with (``run_dir/config.json``), with the overrides (checked by the training)."""
    values = read_run_config(run_dir)
    values.update(parse_overrides(overrides))
    values["run_dir"] = str(run_dir)
    return TrainingConfig.from_dict(values).validate()


def interrupted(run_dir: Path) -> str:
    """What a Ctrl-C leaves behind, and how to go on from there."""
    if (run_dir / "checkpoint.pt").is_file():
        return f"interrupted: the last finished epoch is saved; continue with  ictp-train --resume {run_dir}"
    if (run_dir / "config.json").is_file():
        return f"interrupted before the first epoch finished; ictp-train --resume {run_dir}  starts it from epoch 0"
    return "interrupted before the run started: nothing was saved; start it again with the same command"


def main(argv: Optional[List[str]] = None) -> int:
    if argv is None:  # the command, not a call from Python: process-wide settings are ours to make
        reuse_freed_memory()  # a sixth less time per training step (ictp.malloc); glibc only
    code = _main(argv)
    if argv is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun, leave without interpreter teardown: destroying gloo's threads there can
        # abort a finished process ("terminate called without an active exception"), and torchrun
        # then kills the other processes, rank 0 still writing its report among them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: Optional[List[str]]) -> int:
    parser = argparse.ArgumentParser(prog="ictp-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="YAML file with the run's settings")
    source.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="settings that override the YAML file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    args = parser.parse_args(argv)
    try:
        if args.resume:
            config = resumed_config(args.resume, args.overrides)
        else:
            config = load_config(args.config, args.overrides)
    except (OSError, ValueError, TypeError) as error:
        print(f"ictp-train: error: {error}", file=sys.stderr)
        return 2
    log = RunLog(config.directory / "train.log")
    try:
        with ctrl_c_between_console_calls():
            train(config, resume=bool(args.resume), log=log, progress=not args.no_progress and sys.stderr.isatty())
    except KeyboardInterrupt:
        log.error(interrupted(config.directory))
        return 130
    except (OSError, ValueError) as error:
        log.error(f"ictp-train: error: {error}")
        return 2
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
