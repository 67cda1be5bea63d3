/* Fused CPU kernels of ictp (edge convolution, channel-wise product) and their vector-Jacobian
   products, registered as torch.ops.ictp.* (kernels.cpp). Channels are the last, contiguous axis. */

#ifndef ICTP_KERNELS_H
#define ICTP_KERNELS_H

#include <ATen/ATen.h>

#include <tuple>

namespace ictp {

at::Tensor edge_convolution(const at::Tensor &h, const at::Tensor &y, const at::Tensor &w, const at::Tensor &sender,
                            const at::Tensor &receiver, const at::Tensor &paths, const at::Tensor &values,
                            int64_t dim_out, int64_t num_receivers);
std::tuple<at::Tensor, at::Tensor, at::Tensor> edge_convolution_backward(
    const at::Tensor &grad, const at::Tensor &h, const at::Tensor &y, const at::Tensor &w, const at::Tensor &sender,
    const at::Tensor &receiver, const at::Tensor &paths, const at::Tensor &values);

at::Tensor channelwise_product(const at::Tensor &x, const at::Tensor &y, const at::Tensor &couplings,
                               const at::Tensor &values, int64_t dim_out);
std::tuple<at::Tensor, at::Tensor> channelwise_product_backward(const at::Tensor &grad, const at::Tensor &x,
                                                                const at::Tensor &y, const at::Tensor &couplings,
                                                                const at::Tensor &values);

}  // namespace ictp

#endif
