"""Leaving Python: the deployed model's contract and its TorchScript file.

``ictp.deploy.export.export`` writes a file (the module keeps its name: no function shadows it here).
"""

from .export import DeployedFileError, load_deployed
from .module import DeployedModel

__all__ = ["DeployedFileError", "DeployedModel", "load_deployed"]
