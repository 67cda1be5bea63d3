/* Registers the fused kernels as torch.ops.ictp.*: schemas and CPU implementations.
   Autograd and shape functions are registered from Python (ictp.kernels); the compiled
   deployment calls the forward and backward kernels explicitly, so C++ hosts need only these. */

#include "kernels.h"

#include <torch/library.h>

TORCH_LIBRARY(ictp, m)
{
  m.def("edge_convolution(Tensor h, Tensor y, Tensor w, Tensor sender, Tensor receiver, Tensor paths, "
        "Tensor values, int dim_out, SymInt num_receivers) -> Tensor");
  m.def("edge_convolution_backward(Tensor grad, Tensor h, Tensor y, Tensor w, Tensor sender, Tensor receiver, "
        "Tensor paths, Tensor values) -> (Tensor, Tensor, Tensor)");
  m.def("channelwise_product(Tensor x, Tensor y, Tensor couplings, Tensor values, int dim_out) -> Tensor");
  m.def("channelwise_product_backward(Tensor grad, Tensor x, Tensor y, Tensor couplings, Tensor values) -> "
        "(Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ictp, CPU, m)
{
  m.impl("edge_convolution", &ictp::edge_convolution);
  m.impl("edge_convolution_backward", &ictp::edge_convolution_backward);
  m.impl("channelwise_product", &ictp::channelwise_product);
  m.impl("channelwise_product_backward", &ictp::channelwise_product_backward);
}
