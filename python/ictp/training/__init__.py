"""Training ICTP models: configuration, loss, checkpoints and the resumable training loop."""

from ..model.io import load_model, save_model  # where they were before ictp.model.io
from .config import TrainingConfig, load_config
from .loop import train

__all__ = ["TrainingConfig", "load_config", "load_model", "save_model", "train"]
