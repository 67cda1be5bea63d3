"""Torch devices from user input, with an error that says what to do instead of torch's assertion."""

from typing import Union

import torch

__all__ = ["resolve_device"]


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a torch device; ValueError if malformed or without a GPU."""
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device {str(device)!r} is not a torch device (cpu, cuda, cuda:N): {error}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} asked for, but this torch sees no CUDA GPU; use device cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    return resolved
