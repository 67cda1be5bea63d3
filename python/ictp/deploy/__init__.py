"""Leaving Python: the deployed model's contract and its two file formats (compiled ``.pt2``, TorchScript ``.pth``).

``ictp.deploy.export.export`` writes a file (the module keeps its name: no function shadows it here).
"""

from .export import DeployedFileError, load_deployed
from .module import DeployedModel

__all__ = ["DeployedFileError", "DeployedModel", "load_deployed"]
