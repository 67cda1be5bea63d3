"""The species embedding: a weight row per species, scaled, as rank-0 features."""

import torch

from ictp.nn.embedding import SpeciesEmbedding


def test_embedding_is_the_species_row_over_sqrt_num_species():
    embedding = SpeciesEmbedding(num_species=4, num_channels=3)
    species = torch.tensor([2, 0, 2, 3])
    h = embedding(species)
    assert h.shape == (4, 3, 1)
    torch.testing.assert_close(h[:, :, 0], embedding.weight[species] / 2.0)
