"""Writing files safely: atomically (a crash or an exception never leaves half a file behind), never over an input,
never over an existing file unless asked."""

import os
import uuid
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import torch

__all__ = ["atomic_write", "atomic_save", "check_output"]


def atomic_write(path: Union[str, Path], write: Callable[[str], None]):
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then rename it to ``path``.

    A crash or an exception in ``write`` never leaves half a file (the temporary one is removed);
    the data reach the disk before the rename. The file gets the permissions of a plain ``open``.
    An OSError (a full disk, a read-only folder) is raised again with ``path`` in its message.
    """
    path = Path(path)
    tmp = str(path.parent / f".{path.stem}.{uuid.uuid4().hex}.tmp{path.suffix}")  # the suffix stays (loaders look at it)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        open(tmp, "xb").close()  # a new name, created with the umask's permissions (unlike mkstemp's 0600)
        write(tmp)
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OSError(f"could not write {path}: {reason}; check free disk space and that the folder is writable") from error
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj: Any, path: Union[str, Path]):
    """``torch.save`` through :func:`atomic_write`; torch's write errors (a full disk) become an OSError."""

    def save(tmp: str):
        try:
            torch.save(obj, tmp)
        except RuntimeError as error:  # e.g. "basic_ios::clear: iostream error" when the disk is full
            raise OSError(str(error).splitlines()[0]) from error

    atomic_write(path, save)


def check_output(path: Union[str, Path], inputs: Sequence[Union[str, Path]] = (), force: bool = False):
    """Refuse to write ``path`` over one of ``inputs`` (never allowed) or over an existing file (unless ``force``).

    ValueError for an input, FileExistsError for an existing file; both name the file and the remedy.
    """
    path = Path(path)
    for source in map(Path, inputs):
        if path.resolve() == source.resolve() or (path.exists() and source.exists() and os.path.samefile(path, source)):
            raise ValueError(f"{path} is also an input ({source}) and would be overwritten; write to another file")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
