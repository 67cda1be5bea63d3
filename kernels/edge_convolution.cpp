/* ictp::edge_convolution: the interaction's message passing in one pass over the edges.

   For every edge e (receiver r, sender s) and channel u:
       out[r, col, u] += w[e, p, u] * sum_{a, b} h[s, a, u] * y[e, b] * V_p[a, b, c]
   for each path p (a coupling l1 x l2 -> l3 of the node features with the edge harmonics), whose
   output columns col = out_off + c are contiguous. Nothing of size [edges, channels, components]
   is ever stored: the forward keeps a [components] x [channels] tile per edge in cache, the VJP
   recomputes it.

   Layouts: channels last, h [N, Dh, C], w [E, P, C], out [R, Dm, C] for the first R nodes, which
   hold every receiver (all N, or a LAMMPS rank's local atoms whose ghosts only send). paths [P, 7] int64 rows
   (h_off, d1, y_off, d2, out_off, d3, value_off); values hold each path's coupling block
   [d1, d2, d3] at value_off. */

#include "kernels.h"

#include <ATen/Parallel.h>

#include <vector>

namespace ictp {
namespace {

struct Path {
  int64_t h0, d1, y0, d2, c0, d3, v0;
};

std::vector<Path> read_paths(const at::Tensor &paths)
{
  TORCH_CHECK(paths.dim() == 2 && paths.size(1) == 7 && paths.scalar_type() == at::kLong,
              "edge_convolution: paths must be an int64 [P, 7] table");
  auto p = paths.contiguous();
  const int64_t *q = p.data_ptr<int64_t>();
  std::vector<Path> out(p.size(0));
  for (size_t k = 0; k < out.size(); k++, q += 7) out[k] = {q[0], q[1], q[2], q[3], q[4], q[5], q[6]};
  return out;
}

// K[(h0 + a) * Dm + c0 + c] = sum_b y[y0 + b] V_p[a, b, c]: the edge's coupling matrix, path blocks only
template <typename T>
void edge_coupling(const std::vector<Path> &paths, const T *__restrict__ v, const T *__restrict__ y, int64_t Dm,
                   T *__restrict__ K)
{
  for (const Path &p : paths)
    for (int64_t a = 0; a < p.d1; a++)
      for (int64_t c = 0; c < p.d3; c++) {
        const T *vc = v + p.v0 + a * p.d2 * p.d3 + c;
        T acc = 0;
        for (int64_t b = 0; b < p.d2; b++) acc += y[p.y0 + b] * vc[b * p.d3];
        K[(p.h0 + a) * Dm + p.c0 + c] = acc;
      }
}

struct Sizes {
  int64_t E, C, Dh, Dy, Dm, P;
};

// tmp[u] = sum_a K[h0 + a, col] h_s[h0 + a, u]: column col of one edge's message on channels u0..u1,
// before the radial weight
template <typename T>
inline void message_column(const Path &p, const T *__restrict__ K, const T *__restrict__ hs, int64_t col,
                           const Sizes &n, int64_t u0, int64_t u1, T *__restrict__ tmp)
{
  for (int64_t u = u0; u < u1; u++) tmp[u] = 0;
  for (int64_t a = 0; a < p.d1; a++) {
    const T k = K[(p.h0 + a) * n.Dm + col];
    const T *ha = hs + (p.h0 + a) * n.C;
#pragma omp simd
    for (int64_t u = u0; u < u1; u++) tmp[u] += k * ha[u];
  }
}

template <typename T>
void forward(const T *__restrict__ h, const T *__restrict__ y, const T *__restrict__ w, const int64_t *sender,
             const int64_t *receiver, const std::vector<Path> &paths, const T *v, Sizes n, T *__restrict__ out)
{
  at::parallel_for(0, n.C, 16, [&](int64_t u0, int64_t u1) {
    std::vector<T> K_(n.Dh * n.Dm), tmp_(n.C);
    T *__restrict__ K = K_.data();
    T *__restrict__ tmp = tmp_.data();
    for (int64_t e = 0; e < n.E; e++) {
      edge_coupling(paths, v, y + e * n.Dy, n.Dm, K);
      const T *wt = w + e * n.P * n.C;
      const T *hs = h + sender[e] * n.Dh * n.C;
      T *orr = out + receiver[e] * n.Dm * n.C;
      for (int64_t q = 0; q < n.P; q++) {
        const Path &p = paths[q];
        const T *wq = wt + q * n.C;
        for (int64_t c = 0; c < p.d3; c++) {
          const int64_t col = p.c0 + c;
          message_column(p, K, hs, col, n, u0, u1, tmp);
          T *oc = orr + col * n.C;
#pragma omp simd
          for (int64_t u = u0; u < u1; u++) oc[u] += wq[u] * tmp[u];
        }
      }
    }
  });
}

template <typename T>
void backward(const T *__restrict__ g, const T *__restrict__ h, const T *__restrict__ y, const T *__restrict__ w,
              const int64_t *sender, const int64_t *receiver, const std::vector<Path> &paths, const T *v, Sizes n,
              T *__restrict__ gh, T *__restrict__ gy, T *__restrict__ gw)
{
  // each thread owns a block of channels; the harmonics' gradient sums over channels, so blocks other
  // than the first add theirs into private copies that are summed at the end
  std::vector<std::vector<T>> gy_private(at::get_num_threads());
  at::parallel_for(0, n.C, 16, [&](int64_t u0, int64_t u1) {
    T *gy_out = gy;
    if (u0 != 0) {
      auto &mine = gy_private[at::get_thread_num()];
      mine.assign(n.E * n.Dy, T(0));
      gy_out = mine.data();
    }
    std::vector<T> K_(n.Dh * n.Dm), gK_(n.Dh * n.Dm), tmp_(n.C), tw_(n.C);
    T *__restrict__ K = K_.data();
    T *__restrict__ gK = gK_.data();
    T *__restrict__ tmp = tmp_.data();
    T *__restrict__ tw = tw_.data();
    for (int64_t e = 0; e < n.E; e++) {
      const T *ye = y + e * n.Dy;
      edge_coupling(paths, v, ye, n.Dm, K);
      const T *wt = w + e * n.P * n.C;
      T *gwt = gw + e * n.P * n.C;
      const T *hs = h + sender[e] * n.Dh * n.C;
      T *ghs = gh + sender[e] * n.Dh * n.C;
      const T *gr = g + receiver[e] * n.Dm * n.C;
      for (int64_t q = 0; q < n.P; q++) {
        const Path &p = paths[q];
        const T *wq = wt + q * n.C;
        T *gwq = gwt + q * n.C;
        for (int64_t u = u0; u < u1; u++) gwq[u] = 0;
        for (int64_t c = 0; c < p.d3; c++) {
          const int64_t col = p.c0 + c;
          const T *gc = gr + col * n.C;
          message_column(p, K, hs, col, n, u0, u1, tmp);
#pragma omp simd
          for (int64_t u = u0; u < u1; u++) {
            gwq[u] += gc[u] * tmp[u];
            tw[u] = gc[u] * wq[u];
          }
          for (int64_t a = 0; a < p.d1; a++) {
            const int64_t row = p.h0 + a;
            const T k = K[row * n.Dm + col];
            const T *ha = hs + row * n.C;
            T *gha = ghs + row * n.C;
            T acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t u = u0; u < u1; u++) {
              gha[u] += k * tw[u];
              acc += ha[u] * tw[u];
            }
            gK[row * n.Dm + col] = acc;
          }
        }
      }
      T *gye = gy_out + e * n.Dy;
      for (const Path &p : paths)
        for (int64_t a = 0; a < p.d1; a++)
          for (int64_t c = 0; c < p.d3; c++) {
            const T gk = gK[(p.h0 + a) * n.Dm + p.c0 + c];
            const T *vc = v + p.v0 + a * p.d2 * p.d3 + c;
            for (int64_t b = 0; b < p.d2; b++) gye[p.y0 + b] += gk * vc[b * p.d3];
          }
    }
  });
  for (auto &part : gy_private)
    for (size_t i = 0; i < part.size(); i++) gy[i] += part[i];
}

Sizes check(const at::Tensor &h, const at::Tensor &y, const at::Tensor &w, const at::Tensor &sender,
            const at::Tensor &receiver, const at::Tensor &values, const std::vector<Path> &paths, int64_t dim_out,
            int64_t num_receivers)
{
  TORCH_CHECK(h.dim() == 3 && y.dim() == 2 && w.dim() == 3, "edge_convolution: h [N, Dh, C], y [E, Dy], w [E, P, C]");
  const Sizes n{y.size(0), h.size(2), h.size(1), y.size(1), dim_out, w.size(1)};
  TORCH_CHECK(w.size(0) == n.E && w.size(2) == n.C && n.P == (int64_t) paths.size(),
              "edge_convolution: w must be [E, P, C] with one weight per path");
  TORCH_CHECK(sender.numel() == n.E && receiver.numel() == n.E && sender.scalar_type() == at::kLong &&
                  receiver.scalar_type() == at::kLong,
              "edge_convolution: sender and receiver must be int64 [E]");
  TORCH_CHECK(h.scalar_type() == y.scalar_type() && h.scalar_type() == w.scalar_type() &&
                  h.scalar_type() == values.scalar_type(),
              "edge_convolution: h, y, w and values must have one dtype");
  const int64_t *s = sender.data_ptr<int64_t>(), *r = receiver.data_ptr<int64_t>();
  for (int64_t e = 0; e < n.E; e++)
    TORCH_CHECK(s[e] >= 0 && s[e] < h.size(0) && r[e] >= 0 && r[e] < num_receivers,
                "edge_convolution: edge ", e, " (receiver ", r[e], ", sender ", s[e], ") lies outside the ",
                num_receivers, " receivers and ", h.size(0), " nodes");
  for (const Path &p : paths)
    TORCH_CHECK(p.h0 >= 0 && p.h0 + p.d1 <= n.Dh && p.y0 >= 0 && p.y0 + p.d2 <= n.Dy && p.c0 >= 0 &&
                    p.c0 + p.d3 <= n.Dm && p.v0 >= 0 && p.v0 + p.d1 * p.d2 * p.d3 <= values.numel(),
                "edge_convolution: a path lies outside the tensors");
  return n;
}

}  // namespace

at::Tensor edge_convolution(const at::Tensor &h, const at::Tensor &y, const at::Tensor &w, const at::Tensor &sender,
                            const at::Tensor &receiver, const at::Tensor &paths, const at::Tensor &values,
                            int64_t dim_out, int64_t num_receivers)
{
  const auto table = read_paths(paths);
  auto sc = sender.contiguous(), rc = receiver.contiguous();
  const Sizes n = check(h, y, w, sc, rc, values, table, dim_out, num_receivers);
  auto hc = h.contiguous(), yc = y.contiguous(), wc = w.contiguous(), vc = values.contiguous();
  auto out = at::zeros({num_receivers, dim_out, n.C}, h.options());
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "edge_convolution", [&] {
    forward<scalar_t>(hc.data_ptr<scalar_t>(), yc.data_ptr<scalar_t>(), wc.data_ptr<scalar_t>(),
                      sc.data_ptr<int64_t>(), rc.data_ptr<int64_t>(), table, vc.data_ptr<scalar_t>(), n,
                      out.data_ptr<scalar_t>());
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> edge_convolution_backward(
    const at::Tensor &grad, const at::Tensor &h, const at::Tensor &y, const at::Tensor &w, const at::Tensor &sender,
    const at::Tensor &receiver, const at::Tensor &paths, const at::Tensor &values)
{
  const auto table = read_paths(paths);
  TORCH_CHECK(grad.dim() == 3 && grad.size(2) == h.size(2), "edge_convolution_backward: grad must be [R, Dm, C]");
  auto sc = sender.contiguous(), rc = receiver.contiguous();
  const Sizes n = check(h, y, w, sc, rc, values, table, grad.size(1), grad.size(0));
  auto gc = grad.contiguous(), hc = h.contiguous(), yc = y.contiguous(), wc = w.contiguous();
  auto vc = values.contiguous();
  auto gh = at::zeros_like(hc), gy = at::zeros_like(yc), gw = at::empty_like(wc);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "edge_convolution_backward", [&] {
    backward<scalar_t>(gc.data_ptr<scalar_t>(), hc.data_ptr<scalar_t>(), yc.data_ptr<scalar_t>(),
                       wc.data_ptr<scalar_t>(), sc.data_ptr<int64_t>(), rc.data_ptr<int64_t>(), table,
                       vc.data_ptr<scalar_t>(), n, gh.data_ptr<scalar_t>(), gy.data_ptr<scalar_t>(),
                       gw.data_ptr<scalar_t>());
  });
  return {gh, gy, gw};
}

}  // namespace ictp
