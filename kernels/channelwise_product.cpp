/* ictp::channelwise_product: the product basis's irreducible products, channel by channel.

   For every node n, channel u and coupling k (block of x with m1 paths of d1 components, times a
   block of y with d2 components, into rank l3 with d3 components):
       out[n, out_off + m * d3 + c, u] = sum_{a, b} x[n, x_off + m * d1 + a, u] * y[n, y_off + b, u] * V_k[a, b, c]
   The couplings cover the output exactly once. Channels last: x [N, Dx, C], y [N, Dy, C],
   out [N, Dout, C]. couplings [K, 8] int64 rows (x_off, m1, d1, y_off, d2, out_off, d3, value_off);
   values hold each coupling block [d1, d2, d3] at value_off. */

#include "kernels.h"

#include <ATen/Parallel.h>

#include <vector>

namespace ictp {
namespace {

struct Coupling {
  int64_t x0, m1, d1, y0, d2, o0, d3, v0;
};

std::vector<Coupling> read_couplings(const at::Tensor &couplings)
{
  TORCH_CHECK(couplings.dim() == 2 && couplings.size(1) == 8 && couplings.scalar_type() == at::kLong,
              "channelwise_product: couplings must be an int64 [K, 8] table");
  auto p = couplings.contiguous();
  const int64_t *q = p.data_ptr<int64_t>();
  std::vector<Coupling> out(p.size(0));
  for (size_t k = 0; k < out.size(); k++, q += 8) out[k] = {q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]};
  return out;
}

// Yc[(a * d3 + c) * C + u] = sum_b y[y0 + b, u] V[a, b, c] for one node
template <typename T>
void contract_y(const Coupling &k, const T *__restrict__ v, const T *__restrict__ y, int64_t C, T *__restrict__ Yc)
{
  for (int64_t a = 0; a < k.d1; a++)
    for (int64_t c = 0; c < k.d3; c++) {
      T *out = Yc + (a * k.d3 + c) * C;
      for (int64_t u = 0; u < C; u++) out[u] = 0;
      for (int64_t b = 0; b < k.d2; b++) {
        const T coef = v[k.v0 + (a * k.d2 + b) * k.d3 + c];
        if (coef == 0) continue;
        const T *yb = y + (k.y0 + b) * C;
#pragma omp simd
        for (int64_t u = 0; u < C; u++) out[u] += coef * yb[u];
      }
    }
}

int64_t largest_block(const std::vector<Coupling> &couplings)
{
  int64_t size = 1;
  for (const Coupling &k : couplings) size = std::max(size, k.d1 * k.d3);
  return size;
}

template <typename T>
void forward(const T *__restrict__ x, const T *__restrict__ y, const std::vector<Coupling> &couplings, const T *v,
             int64_t N, int64_t Dx, int64_t Dy, int64_t Dout, int64_t C, T *__restrict__ out)
{
  const int64_t block = largest_block(couplings);
  at::parallel_for(0, N, 8, [&](int64_t n0, int64_t n1) {
    std::vector<T> Yc_(block * C);
    T *__restrict__ Yc = Yc_.data();
    for (int64_t n = n0; n < n1; n++) {
      const T *xn = x + n * Dx * C, *yn = y + n * Dy * C;
      T *on = out + n * Dout * C;
      for (const Coupling &k : couplings) {
        contract_y(k, v, yn, C, Yc);
        for (int64_t m = 0; m < k.m1; m++)
          for (int64_t c = 0; c < k.d3; c++) {
            T *o = on + (k.o0 + m * k.d3 + c) * C;
            for (int64_t u = 0; u < C; u++) o[u] = 0;
            for (int64_t a = 0; a < k.d1; a++) {
              const T *xa = xn + (k.x0 + m * k.d1 + a) * C, *ya = Yc + (a * k.d3 + c) * C;
#pragma omp simd
              for (int64_t u = 0; u < C; u++) o[u] += xa[u] * ya[u];
            }
          }
      }
    }
  });
}

template <typename T>
void backward(const T *__restrict__ g, const T *__restrict__ x, const T *__restrict__ y,
              const std::vector<Coupling> &couplings, const T *v, int64_t N, int64_t Dx, int64_t Dy, int64_t Dout,
              int64_t C, T *__restrict__ gx, T *__restrict__ gy)
{
  const int64_t block = largest_block(couplings);
  at::parallel_for(0, N, 8, [&](int64_t n0, int64_t n1) {
    std::vector<T> Yc_(block * C), gYc_(block * C);
    T *__restrict__ Yc = Yc_.data();
    T *__restrict__ gYc = gYc_.data();
    for (int64_t n = n0; n < n1; n++) {
      const T *xn = x + n * Dx * C, *yn = y + n * Dy * C, *gn = g + n * Dout * C;
      T *gxn = gx + n * Dx * C, *gyn = gy + n * Dy * C;
      for (const Coupling &k : couplings) {
        contract_y(k, v, yn, C, Yc);
        for (int64_t i = 0; i < k.d1 * k.d3 * C; i++) gYc[i] = 0;
        for (int64_t m = 0; m < k.m1; m++)
          for (int64_t c = 0; c < k.d3; c++) {
            const T *go = gn + (k.o0 + m * k.d3 + c) * C;
            for (int64_t a = 0; a < k.d1; a++) {
              const T *xa = xn + (k.x0 + m * k.d1 + a) * C, *ya = Yc + (a * k.d3 + c) * C;
              T *gxa = gxn + (k.x0 + m * k.d1 + a) * C, *gya = gYc + (a * k.d3 + c) * C;
#pragma omp simd
              for (int64_t u = 0; u < C; u++) {
                gxa[u] += go[u] * ya[u];
                gya[u] += go[u] * xa[u];
              }
            }
          }
        for (int64_t a = 0; a < k.d1; a++)
          for (int64_t c = 0; c < k.d3; c++) {
            const T *gya = gYc + (a * k.d3 + c) * C;
            for (int64_t b = 0; b < k.d2; b++) {
              const T coef = v[k.v0 + (a * k.d2 + b) * k.d3 + c];
              if (coef == 0) continue;
              T *gyb = gyn + (k.y0 + b) * C;
#pragma omp simd
              for (int64_t u = 0; u < C; u++) gyb[u] += coef * gya[u];
            }
          }
      }
    }
  });
}

void check(const at::Tensor &x, const at::Tensor &y, const at::Tensor &values, const std::vector<Coupling> &couplings,
           int64_t dim_out)
{
  TORCH_CHECK(x.dim() == 3 && y.dim() == 3 && x.size(0) == y.size(0) && x.size(2) == y.size(2),
              "channelwise_product: x [N, Dx, C] and y [N, Dy, C]");
  TORCH_CHECK(x.scalar_type() == y.scalar_type() && x.scalar_type() == values.scalar_type(),
              "channelwise_product: x, y and values must have one dtype");
  for (const Coupling &k : couplings)
    TORCH_CHECK(k.x0 >= 0 && k.x0 + k.m1 * k.d1 <= x.size(1) && k.y0 >= 0 && k.y0 + k.d2 <= y.size(1) && k.o0 >= 0 &&
                    k.o0 + k.m1 * k.d3 <= dim_out && k.v0 >= 0 && k.v0 + k.d1 * k.d2 * k.d3 <= values.numel(),
                "channelwise_product: a coupling lies outside the tensors");
}

}  // namespace

at::Tensor channelwise_product(const at::Tensor &x, const at::Tensor &y, const at::Tensor &couplings,
                               const at::Tensor &values, int64_t dim_out)
{
  const auto table = read_couplings(couplings);
  check(x, y, values, table, dim_out);
  auto xc = x.contiguous(), yc = y.contiguous(), vc = values.contiguous();
  auto out = at::empty({x.size(0), dim_out, x.size(2)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "channelwise_product", [&] {
    forward<scalar_t>(xc.data_ptr<scalar_t>(), yc.data_ptr<scalar_t>(), table, vc.data_ptr<scalar_t>(), x.size(0),
                      x.size(1), y.size(1), dim_out, x.size(2), out.data_ptr<scalar_t>());
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> channelwise_product_backward(const at::Tensor &grad, const at::Tensor &x,
                                                                const at::Tensor &y, const at::Tensor &couplings,
                                                                const at::Tensor &values)
{
  const auto table = read_couplings(couplings);
  check(x, y, values, table, grad.size(1));
  auto gc = grad.contiguous(), xc = x.contiguous(), yc = y.contiguous(), vc = values.contiguous();
  auto gx = at::zeros_like(xc), gy = at::zeros_like(yc);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "channelwise_product_backward", [&] {
    backward<scalar_t>(gc.data_ptr<scalar_t>(), xc.data_ptr<scalar_t>(), yc.data_ptr<scalar_t>(), table,
                       vc.data_ptr<scalar_t>(), x.size(0), x.size(1), y.size(1), grad.size(1), x.size(2),
                       gx.data_ptr<scalar_t>(), gy.data_ptr<scalar_t>());
  });
  return {gx, gy};
}

}  // namespace ictp
