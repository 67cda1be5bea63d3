"""MACE reference model for the side-by-side CPU benchmark against ICTP.

The MACE package (``mace-torch``) is optional: this module imports without it,
and every function that needs it imports it lazily.

"Rank L" means the same for both codes: hidden features and edge spherical
harmonics both go up to degree L.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    import ase


def mace_available() -> bool:
    """Check whether the ``mace`` package can be imported.

    Returns
    -------
    bool
        True if ``mace`` is installed.
    """
    try:
        import mace  # noqa: F401
    except ImportError:
        return False
    return True


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    """Return the floating-point dtype of a model's parameters."""
    return next(model.parameters()).dtype


def build_mace(
    atomic_numbers: list[int],
    r_max: float,
    num_channels: int,
    l_max: int,
    correlation: int,
    num_layers: int = 2,
    num_bessel: int = 8,
    num_polynomial_cutoff: int = 5,
    radial_mlp: Sequence[int] = (64, 64, 64),
    avg_num_neighbors: float = 10.0,
    max_ell: int | None = None,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> torch.nn.Module:
    """Build a randomly initialised MACE model in evaluation mode.

    Parameters
    ----------
    atomic_numbers : list of int
        Atomic numbers of the species the model handles.
    r_max : float
        Cutoff radius in Å.
    num_channels : int
        Number of channels per irrep of the hidden features.
    l_max : int
        Maximum degree of the hidden features, ``num_channels x 0e + num_channels
        x 1o + ...`` with natural parity.
    correlation : int
        Body order of the product basis minus one.
    num_layers : int, optional
        Number of message-passing layers.
    num_bessel : int, optional
        Number of Bessel radial basis functions.
    num_polynomial_cutoff : int, optional
        Exponent of the polynomial cutoff envelope.
    radial_mlp : sequence of int, optional
        Hidden layer widths of the radial MLP.
    avg_num_neighbors : float, optional
        Normalisation constant of the message aggregation.
    max_ell : int, optional
        Maximum degree of the edge spherical harmonics; defaults to ``l_max``.
    dtype : torch.dtype, optional
        Floating-point dtype of the model.
    seed : int, optional
        Seed of the parameter initialisation; the weights do not depend on ``dtype``
        and the global RNG state is left untouched.

    Returns
    -------
    torch.nn.Module
        The MACE model, in evaluation mode.
    """
    # mace must come first: its import lets e3nn 0.4.4 load its constants under torch >= 2.6.
    from mace import modules
    from e3nn import o3  # isort: skip

    if max_ell is None:
        max_ell = l_max
    hidden_irreps = o3.Irreps([(num_channels, (ell, (-1) ** ell)) for ell in range(l_max + 1)])
    # MACE creates its parameters, buffers and constants in the global default dtype.
    # Building in float64 and casting afterwards gives the same weights for a seed in any dtype.
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = modules.MACE(
                r_max=r_max,
                num_bessel=num_bessel,
                num_polynomial_cutoff=num_polynomial_cutoff,
                max_ell=max_ell,
                interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
                interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
                num_interactions=num_layers,
                num_elements=len(atomic_numbers),
                hidden_irreps=hidden_irreps,
                MLP_irreps=o3.Irreps("16x0e"),
                atomic_energies=np.zeros(len(atomic_numbers)),
                avg_num_neighbors=avg_num_neighbors,
                atomic_numbers=list(atomic_numbers),
                correlation=correlation,
                gate=torch.nn.functional.silu,
                radial_MLP=list(radial_mlp),
            )
    finally:
        torch.set_default_dtype(previous_dtype)
    return model.to(dtype).eval()


def count_parameters(model: torch.nn.Module) -> int:
    """Count the trainable parameters of a model.

    Parameters
    ----------
    model : torch.nn.Module
        The model.

    Returns
    -------
    int
        Number of trainable scalar parameters.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def mace_batch(
    model: torch.nn.Module, atoms_list: Sequence[ase.Atoms], r_max: float
) -> dict[str, torch.Tensor]:
    """Convert structures into the input dictionary of a MACE model.

    Parameters
    ----------
    model : torch.nn.Module
        The MACE model; its species table and dtype are used.
    atoms_list : sequence of ase.Atoms
        Structures, molecules without periodic boundaries or periodic cells.
    r_max : float
        Cutoff radius of the neighbour list in Å.

    Returns
    -------
    dict of str to torch.Tensor
        Batched graph in the model's dtype.
    """
    from mace import data
    from mace.tools import AtomicNumberTable, torch_geometric

    z_table = AtomicNumberTable([int(z) for z in model.atomic_numbers])
    # AtomicData builds its floating-point tensors in the global default dtype.
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(_model_dtype(model))
    try:
        graphs = [
            data.AtomicData.from_config(
                data.config_from_atoms(atoms), z_table=z_table, cutoff=r_max
            )
            for atoms in atoms_list
        ]
    finally:
        torch.set_default_dtype(previous_dtype)
    return torch_geometric.Batch.from_data_list(graphs).to_dict()


def mace_energy_forces(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate energies and forces once.

    Parameters
    ----------
    model : torch.nn.Module
        The MACE model.
    batch : dict of str to torch.Tensor
        Input dictionary from :func:`mace_batch`.

    Returns
    -------
    energy : torch.Tensor
        Energy per structure, shape ``(n_structures,)``.
    forces : torch.Tensor
        Forces on the atoms, shape ``(n_atoms, 3)``.
    """
    output = model(batch, training=False, compute_force=True, compute_stress=False)
    return output["energy"].detach(), output["forces"].detach()
