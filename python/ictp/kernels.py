"""The fused CPU kernels (``torch.ops.ictp.*``): loading, shapes for tracing, and autograd.

Two operations carry most of the model's memory traffic; their kernels
(``kernels/*.cpp``, compiled on first use by :mod:`ictp.native`) never store a
tensor of size ``[edges, channels, components]``:

* :func:`edge_convolution` — gather sender features, couple them with the edge
  harmonics per path, weight each path and channel radially, sum into receivers;
* :func:`channelwise_product` — the product basis's irreducible products.

Both work on channels-last tensors (``[N, components, C]``). Their backward is a
kernel of its own (what a compiled deployment calls) and supports first
derivatives only: forces, stress and per-layer gradients, not training, which
needs the gradient of the forces and uses the reference path
(:meth:`ictp.ICTP.set_kernels`). The reference implementations in
:mod:`ictp.nn.tensor_product` are what the tests compare these with.
"""

import threading

import torch

from . import native

__all__ = ["load", "library_path", "edge_convolution", "channelwise_product"]

_lock = threading.Lock()
_loaded = ""


def library_path() -> str:
    """Path of the kernel library, compiling it first if needed (:func:`ictp.native.build`)."""
    return str(native.build() / native.KERNELS)


def load() -> str:
    """Make ``torch.ops.ictp.*`` available in this process (once); returns the library's path.

    Raises :class:`ictp.native.NativeBuildError` when the kernels cannot be compiled here.
    """
    global _loaded
    with _lock:
        if not _loaded:
            path = library_path()
            torch.ops.load_library(path)
            _register_python_parts()
            _loaded = path
    return _loaded


def _register_python_parts():
    """Shape functions (for tracing with symbolic sizes) and autograd formulas of the four operators."""

    @torch.library.register_fake("ictp::edge_convolution")
    def _(h, y, w, sender, receiver, paths, values, dim_out, num_receivers):
        return h.new_empty(num_receivers, dim_out, h.shape[2])

    @torch.library.register_fake("ictp::edge_convolution_backward")
    def _(grad, h, y, w, sender, receiver, paths, values):
        return torch.empty_like(h), torch.empty_like(y), torch.empty_like(w)

    @torch.library.register_fake("ictp::channelwise_product")
    def _(x, y, couplings, values, dim_out):
        return x.new_empty(x.shape[0], dim_out, x.shape[2])

    @torch.library.register_fake("ictp::channelwise_product_backward")
    def _(grad, x, y, couplings, values):
        return torch.empty_like(x), torch.empty_like(y)

    def save_inputs(ctx, inputs, output):
        ctx.save_for_backward(*[t for t in inputs if isinstance(t, torch.Tensor)])

    def edge_backward(ctx, grad):
        inputs = ctx.saved_tensors
        _refuse_double_backward(inputs)
        gh, gy, gw = torch.ops.ictp.edge_convolution_backward(grad, *inputs)
        return gh, gy, gw, None, None, None, None, None, None

    def product_backward(ctx, grad):
        inputs = ctx.saved_tensors
        _refuse_double_backward(inputs)
        gx, gy = torch.ops.ictp.channelwise_product_backward(grad, *inputs)
        return gx, gy, None, None, None

    torch.library.register_autograd("ictp::edge_convolution", edge_backward, setup_context=save_inputs)
    torch.library.register_autograd("ictp::channelwise_product", product_backward, setup_context=save_inputs)


def _refuse_double_backward(inputs):
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        raise RuntimeError(
            "ictp's fused kernels give first derivatives only (energy, forces, stress); training differentiates "
            "the forces again: call model.set_kernels('reference') before training"
        )


def edge_convolution(h, y, w, sender, receiver, paths, values, dim_out: int, num_receivers: int) -> torch.Tensor:
    """``h [N, Dh, C]``, ``y [E, Dy]``, ``w [E, P, C]``, ``sender``/``receiver [E]`` → ``[num_receivers, dim_out, C]``
    (every receiver below ``num_receivers``).

    ``paths [P, 7]`` int64 rows ``(h_off, d1, y_off, d2, out_off, d3, value_off)`` and ``values``
    (coupling blocks ``[d1, d2, d3]``) describe the couplings (``kernels/edge_convolution.cpp``).
    """
    return torch.ops.ictp.edge_convolution(h, y, w, sender, receiver, paths, values, dim_out, num_receivers)


def channelwise_product(x, y, couplings, values, dim_out: int) -> torch.Tensor:
    """``x [N, Dx, C]``, ``y [N, Dy, C]`` → ``[N, dim_out, C]``; ``couplings [K, 8]`` as in
    ``kernels/channelwise_product.cpp``."""
    return torch.ops.ictp.channelwise_product(x, y, couplings, values, dim_out)
