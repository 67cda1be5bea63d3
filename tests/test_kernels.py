"""The fused CPU kernels equal the reference implementations: products, their gradients, whole models."""

import copy

import ase.build
import pytest
import torch

import ictp
from ictp import keys
from ictp.data.graph import edge_vectors, structures_to_batch
from ictp.model import energy_derivatives
from ictp.nn.tensor_product import ChannelwiseProduct, EdgeTensorProduct
from ictp.tensors.irreps import irreps_up_to, plain_layout
from ictp.tensors.products import couplings, output_layout
from ictp.tensors.representation import get_representation

LAYOUTS = [("compressed", False, 2, 3), ("compressed", True, 2, 2), ("dense", False, 1, 2), ("dense", True, 1, 1)]


def edge_product(rep_name, odd, l_node, l_edge):
    rep = get_representation(rep_name)
    h = plain_layout(irreps_up_to(l_node, odd), rep.dim)
    y = plain_layout(irreps_up_to(l_edge), rep.dim)
    instructions = couplings(h, y, irreps_up_to(l_edge, odd), odd_products=odd)
    return EdgeTensorProduct(h, y, instructions, output_layout(h, y, instructions, rep.dim), rep)


def channelwise_product(rep_name, odd, l_node, l_edge):
    rep = get_representation(rep_name)
    a = plain_layout(irreps_up_to(l_edge, odd), rep.dim)
    first = couplings(a, a, irreps_up_to(l_edge, odd), odd_products=odd, symmetric=True)
    p2 = output_layout(a, a, first, rep.dim)
    second = couplings(p2, a, irreps_up_to(l_node, odd), odd_products=odd)
    return ChannelwiseProduct(p2, a, second, output_layout(p2, a, second, rep.dim), rep), p2, a


def both(module, *inputs, fused_inputs=None):
    """Outputs and input gradients (for a random upstream gradient) of the reference and the fused path
    (which takes ``fused_inputs`` if they are laid out differently)."""
    results = []
    for fused in (False, True):
        module.fused = fused
        given = fused_inputs if fused and fused_inputs else inputs
        leaves = [x.detach().requires_grad_(x.is_floating_point()) if torch.is_tensor(x) else x for x in given]
        out = module(*leaves)
        upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(5), dtype=out.dtype)
        grads = torch.autograd.grad(out, [x for x in leaves if torch.is_tensor(x) and x.requires_grad], upstream)
        results.append((out.detach(), grads))
    module.fused = False
    return results


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_edge_convolution_equals_the_reference(layout, dtype):
    ictp.kernels.load()
    tp = edge_product(*layout).to(dtype)
    g = torch.Generator().manual_seed(0)
    num_nodes, num_edges, channels = 6, 17, 5
    h = torch.randn(num_nodes, channels, tp.h_dim, generator=g, dtype=dtype)
    y = torch.randn(num_edges, tp.table.shape[0], generator=g, dtype=dtype)
    w = torch.randn(num_edges, channels, tp.num_paths, generator=g, dtype=dtype)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    w_channels_last = w.transpose(1, 2).contiguous()
    (ref, ref_grads), (out, grads) = both(
        tp, h, y, w, edge_index, num_nodes, fused_inputs=(h, y, w_channels_last, edge_index, num_nodes)
    )
    grads = (grads[0], grads[1], grads[2].transpose(1, 2))
    tolerance = 1e-12 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(out, ref, atol=tolerance, rtol=tolerance)
    for got, expected in zip(grads, ref_grads):
        torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("layout", LAYOUTS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_channelwise_product_equals_the_reference(layout, dtype):
    ictp.kernels.load()
    product, p2, a = channelwise_product(*layout)
    product = product.to(dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 3, p2.dim, generator=g, dtype=dtype)
    y = torch.randn(7, 3, a.dim, generator=g, dtype=dtype)
    (ref, ref_grads), (out, grads) = both(product, x, y)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(out, ref, atol=tolerance, rtol=tolerance)
    for got, expected in zip(grads, ref_grads):
        torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)


VARIANTS = {
    "default": {},
    "L=2, l_edge=3": dict(l_max_node=2, l_max_edge=3),
    "odd products": dict(odd_products=True, l_max_node=2, l_max_edge=2),
    "dense": dict(representation="dense", l_max_node=2, l_max_edge=2),
    "sym+lt": dict(product_basis="sym+lt", num_product_channels=3),
    "full, nu=4, 3 layers": dict(product_basis="full", correlation=4, num_layers=3),
    "float32": dict(dtype=torch.float32),
}


def outputs(model, atoms):
    graph = structures_to_batch([atoms], model.atomic_numbers.tolist(), model.r_max)
    vectors = edge_vectors(graph).to(model.dtype).requires_grad_(True)
    energies = model(graph[keys.SPECIES], graph[keys.EDGE_INDEX], vectors)
    return energy_derivatives(energies, vectors, graph[keys.EDGE_INDEX], graph[keys.BATCH], 1, compute_virial=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fused_model_equals_the_reference_model(variant, molecule, triclinic_cell):
    model = ictp.ICTP(["H", "C", "N", "O", "Si"], r_max=3.5, num_channels=5, radial_mlp=(8,), **VARIANTS[variant])
    fused = copy.deepcopy(model).set_kernels("fused")
    tolerance = 1e-12 if model.dtype == torch.float64 else 2e-5
    for atoms in (molecule, triclinic_cell, ase.build.bulk("Si", "diamond", a=5.43)):
        ref, got = outputs(model, atoms), outputs(fused, atoms)
        for key in (keys.ENERGIES, keys.FORCES, keys.VIRIAL):
            assert (got[key] - ref[key]).abs().max() <= tolerance * max(ref[key].abs().max(), 1.0), (variant, key)


def test_more_threads_give_the_same_results(tiny_model, triclinic_cell):
    fused = copy.deepcopy(tiny_model).set_kernels("fused")
    atoms = triclinic_cell.repeat(2)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = outputs(fused, atoms)
        torch.set_num_threads(2)
        two = outputs(fused, atoms)
    finally:
        torch.set_num_threads(previous)
    for key in (keys.ENERGIES, keys.FORCES, keys.VIRIAL):
        torch.testing.assert_close(two[key], one[key], atol=1e-12, rtol=1e-12)


def test_graphs_without_edges(tiny_model):
    fused = copy.deepcopy(tiny_model).set_kernels("fused")
    atoms = ase.Atoms("HC", positions=[[0, 0, 0], [0, 0, 10.0]])
    ref, got = outputs(tiny_model, atoms), outputs(fused, atoms)
    torch.testing.assert_close(got[keys.ENERGIES], ref[keys.ENERGIES], atol=1e-12, rtol=0)
    assert got[keys.FORCES].abs().max() == 0


def test_training_through_the_fused_kernels_is_a_clear_error(tiny_model, molecule):
    fused = copy.deepcopy(tiny_model).set_kernels("fused")
    graph = structures_to_batch([molecule], fused.atomic_numbers.tolist(), fused.r_max)
    vectors = edge_vectors(graph).requires_grad_(True)
    energies = fused(graph[keys.SPECIES], graph[keys.EDGE_INDEX], vectors)
    with pytest.raises(RuntimeError, match="set_kernels\\('reference'\\)"):
        energy_derivatives(energies, vectors, graph[keys.EDGE_INDEX], graph[keys.BATCH], 1, create_graph=True)


def test_kernel_names_are_checked(tiny_model):
    with pytest.raises(ValueError, match="'reference' or 'fused'"):
        copy.deepcopy(tiny_model).set_kernels("fast")
