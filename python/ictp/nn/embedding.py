"""Species embedding: the initial scalar node features."""

import math

import torch
from torch import nn

__all__ = ["SpeciesEmbedding"]


class SpeciesEmbedding(nn.Module):
    """``h⁰ = W · onehot(species) / sqrt(S)``: ``species [N]`` → ``[N, C, 1]`` (rank-0 features)."""

    def __init__(self, num_species: int, num_channels: int):
        super().__init__()
        self.num_species = num_species
        self.weight = nn.Parameter(torch.randn(num_species, num_channels, dtype=torch.float64))

    def forward(self, species: torch.Tensor) -> torch.Tensor:
        return (self.weight.index_select(0, species) / math.sqrt(self.num_species)).unsqueeze(-1)
