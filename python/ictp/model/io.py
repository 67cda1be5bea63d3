"""Model files (``model.pt``): hyperparameters and tensors, no pickled classes, written atomically.

They load with ``torch.load(..., weights_only=True)``; :func:`load_model` rebuilds the
:class:`ictp.ICTP` from them.
"""

import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, Union

import torch

from ..files import atomic_save
from .config import ModelConfig
from .ictp import ICTP

__all__ = ["save_model", "load_model", "model_to_dict", "read_tensor_file"]

FORMAT_VERSION = 1


def model_to_dict(model: ICTP) -> Dict[str, Any]:
    """Everything needed to rebuild ``model``: hyperparameters and tensors, no pickled classes."""
    return {
        "format_version": FORMAT_VERSION,
        "hyperparameters": model.hyperparameters,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }


def save_model(model: ICTP, path: Union[str, Path], **extra):
    """Write a model file (``model.pt``); ``extra`` (plain Python values) is stored beside it."""
    atomic_save({**model_to_dict(model), **extra}, path)


def _is_deployed(path: Union[str, Path]) -> bool:
    """An ``ictp-deploy`` file, whatever its name: a zip with a TorchScript ``metadata.json`` or AOTInductor files."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("/extra/metadata.json") or "/data/aotinductor/" in n for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_tensor_file(path: Union[str, Path], what: str, device: Union[str, torch.device] = "cpu") -> Any:
    """``torch.load`` with weights-only unpickling of a model file or checkpoint (``what`` names it in errors).

    FileNotFoundError for a missing file, ValueError for a deployed file (``.pth``/``.pt2``) and for one
    that is corrupt, truncated or another format.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file" if not Path(path).exists() else f"{path} is not a file")
    if _is_deployed(path):
        raise ValueError(
            f"{path} is a deployed model (written by ictp-deploy), not a training model: give the model.pt that "
            "ictp-train wrote (ICTPCalculator and pair_style ictp run deployed files named .pth or .pt2)"
        )
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as error:
        reason = str(error).splitlines()[0].split(". ")[0] if str(error) else f"{type(error).__name__} (empty file?)"
        raise ValueError(f"{path} is not a readable {what} (corrupt, truncated or another format): {reason}") from error


def load_model(path: Union[str, Path], device: Union[str, torch.device] = "cpu") -> ICTP:
    """Rebuild a model from :func:`save_model`'s file, with weights-only unpickling."""
    data = read_tensor_file(path, "ictp model file", device)
    if not isinstance(data, dict) or "hyperparameters" not in data:
        raise ValueError(f"{path} is not an ictp model file (no hyperparameters found)")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {data['format_version']}, newer than this ictp understands "
            f"({FORMAT_VERSION}); upgrade ictp"
        )
    model = ICTP(config=ModelConfig(**data["hyperparameters"]))
    model.load_state_dict(data["state_dict"])
    return model.to(device)
