"""Leaving Python: the deployed model's contract and its TorchScript file."""

from .module import DeployedModel

__all__ = ["DeployedModel"]
