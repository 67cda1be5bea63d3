"""glibc malloc settings that let a command's process reuse the memory it frees.

A training step allocates and frees dozens of float64 tensors of a few MB (``[edges, channels,
components]``, forward and both backward passes). glibc's malloc serves blocks above its mmap
threshold from fresh pages and gives a free heap top back to the system, so each step also pays for
page faults and for zeroing those pages; on aspirin batches that is about a sixth of a training step
(``benchmarks/README.md``). :func:`reuse_freed_memory` raises the mmap threshold to its largest
allowed value and stops the trimming, so freed blocks are reused. The peak memory stays the same
(the process keeps it until it exits). It is process-wide, so only ictp's commands call it
(``ictp-train``); importing ictp or calling its functions never does.
"""

import ctypes
import sys

__all__ = ["reuse_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_SETTINGS = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: 1 << 30}
"""Blocks up to 32 MiB (glibc's upper limit for the threshold) come from the heap; it is trimmed only
when 1 GiB at its top is free."""


def reuse_freed_memory() -> bool:
    """Apply the settings to this process; returns whether it could (glibc on Linux), else changes nothing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([mallopt(option, value) == 1 for option, value in _SETTINGS.items()])
