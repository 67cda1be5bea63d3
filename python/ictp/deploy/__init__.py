"""Leaving Python: the deployed model's contract and its TorchScript file."""

from .export import DeployedFileError, export, load_deployed
from .module import DeployedModel

__all__ = ["DeployedFileError", "DeployedModel", "export", "load_deployed"]
