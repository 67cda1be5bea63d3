"""The run directory: one run per folder, one process at a time, and the run's saved settings (``config.json``).

A new run refuses a folder that holds another run's output (:data:`RUN_OUTPUTS`); a resumed
one needs its ``config.json``. While a run writes, it holds an exclusive lock on
``train.lock`` (``flock``: the kernel releases it when the process ends, even by SIGKILL),
so a second ``ictp-train`` into the same folder is refused instead of interleaving files.
"""

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict

from .. import __version__
from ..files import atomic_write
from .config import LEGACY_DEFAULTS, TrainingConfig

__all__ = ["LOCK_FILE", "RUN_OUTPUTS", "claim_run_directory", "read_run_config", "write_run_config"]

RUN_OUTPUTS = ("config.json", "checkpoint.pt", "model.pt", "metrics.csv")
"""Files that make a folder a run's (``train.log`` is only appended to, and a failed start leaves one)."""
LOCK_FILE = "train.lock"


@contextmanager
def claim_run_directory(path: Path, resume: bool):
    """Create ``path`` if needed and hold its lock; refuse a folder that cannot hold this run.

    A new run (``resume=False``) refuses a folder with any of :data:`RUN_OUTPUTS`; a resumed
    one needs ``config.json``. Errors name the folder and the remedy: FileExistsError (another
    run's output), FileNotFoundError (nothing to resume), OSError (not a folder, not writable,
    locked by another process).
    """
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"the run directory {path} is a file; choose another run_dir (or name)")
    if resume:
        read_run_config(path)  # before creating anything: a mistyped folder stays uncreated
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle = open(path / LOCK_FILE, "a+")
    except OSError as error:
        raise OSError(
            f"cannot write into the run directory {path}: {error.strerror or error}; choose a run_dir on a writable disk"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise OSError(
                f"another ictp-train (process {holder}) is writing to {path}; wait for it to finish, or choose "
                "another run_dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _check_contents(path, resume)
        yield


def _check_contents(path: Path, resume: bool):
    found = [name for name in RUN_OUTPUTS if (path / name).exists()]
    if not resume and found:
        raise FileExistsError(
            f"{path} already holds a run ({', '.join(found)}); continue it with  ictp-train --resume {path}  "
            "or choose another run_dir (or name)"
        )


def read_run_config(path: Path) -> Dict[str, Any]:
    """The settings a run was started with (by YAML key), from ``path/config.json``.

    Keys that did not exist when the run started take the values that ictp used then (``LEGACY_DEFAULTS``).
    """
    saved = path / "config.json"
    if not saved.is_file():
        raise FileNotFoundError(f"cannot resume: {saved} not found; is {path} a run directory of ictp-train?")
    try:
        return {**LEGACY_DEFAULTS, **json.loads(saved.read_text())["config"]}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{saved} is corrupt ({type(error).__name__}: {error}); restore it from a copy or start a new run"
        ) from None


def write_run_config(path: Path, config: TrainingConfig):
    """Write ``path/config.json`` atomically: the resolved settings, the ictp version and the seed."""
    text = json.dumps({"config": config.to_dict(), "ictp_version": __version__, "seed": config.seed}, indent=2)
    atomic_write(path / "config.json", lambda tmp: Path(tmp).write_text(text))
