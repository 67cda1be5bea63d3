"""Writing files atomically: a crash or an exception never leaves half a file behind."""

import os
import uuid
from pathlib import Path
from typing import Any, Callable, Union

import torch

__all__ = ["atomic_write", "atomic_save"]


def atomic_write(path: Union[str, Path], write: Callable[[str], None]):
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then rename it to ``path``.

    A crash or an exception in ``write`` never leaves half a file (the temporary one is removed);
    the data reach the disk before the rename. The file gets the permissions of a plain ``open``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.stem}.{uuid.uuid4().hex}.tmp{path.suffix}")  # the suffix stays (loaders look at it)
    open(tmp, "xb").close()  # a new name, created with the umask's permissions (unlike mkstemp's 0600)
    try:
        write(tmp)
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj: Any, path: Union[str, Path]):
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))
