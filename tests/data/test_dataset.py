"""Labelled graphs and their batches."""

import ase.build
import ase.io
import numpy as np
import pytest

from ictp import keys
from ictp.data.dataset import GraphDataset
from ictp.data.extxyz import read_configurations


def test_labels_and_masks_follow_the_structures(shared_data):
    configs = read_configurations(shared_data / "TiAl_ace" / "TiAl.xyz", index=":4")
    configs[1].forces = None
    configs[2].stress = None
    dataset = GraphDataset(configs, [13, 22], 5.0)
    batch = dataset.batch([0, 1, 2, 3])
    sizes = [len(c.atoms) for c in configs]
    assert batch[keys.NUM_ATOMS].tolist() == sizes
    assert batch[keys.HAS_FORCES].tolist() == [True, False, True, True]
    assert batch[keys.HAS_STRESS].tolist() == [True, True, False, True]
    np.testing.assert_array_equal(batch[keys.REF_ENERGY].numpy(), [c.energy for c in configs])
    start = sizes[0] + sizes[1]
    np.testing.assert_array_equal(batch[keys.REF_FORCES][start : start + sizes[2]].numpy(), configs[2].forces)
    np.testing.assert_array_equal(batch[keys.REF_STRESS][3].numpy(), configs[3].stress)
    counts = dataset.edge_counts()
    assert [len(c) for c in counts] == sizes
    assert sum(int(c.sum()) for c in counts) == batch[keys.EDGE_INDEX].shape[1]


def test_a_bad_structure_is_named_by_file_and_index(tmp_path):
    frames = [ase.build.molecule("H2O"), ase.build.molecule("CH4")]
    frames[1].positions[3] = frames[1].positions[0]
    ase.io.write(tmp_path / "data.xyz", frames)
    with pytest.raises(ValueError, match=r"data.xyz, structure 1: atoms 0 and 3 are 0 Å apart"):
        GraphDataset(read_configurations(tmp_path / "data.xyz"), [1, 6, 8], 3.0)
