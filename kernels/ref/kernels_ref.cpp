// Scalar reference of every kernel in kernels.h: the test oracle and the fallback.
// Written for clarity; accumulations are in float like the SIMD kernels (except where noted),
// so tolerances against them scale with the reduction length.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/half.h"
#include "kernels/kernels.h"
#include "kernels/ref/kernels_ref.h"

namespace bertrank::kernels::ref {

size_t gemm_packed_floats(int n, int k) { return size_t(n) * size_t(k); }

void gemm_pack(const float* w, int n, int k, float* packed) {
  std::memcpy(packed, w, sizeof(float) * size_t(n) * size_t(k));
}

static inline float act_apply(Activation act, float x) {
  switch (act) {
    case Activation::gelu_erf: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Activation::gelu_tanh: {
      const float c = 0.79788456080286536f;  // sqrt(2/pi)
      return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x)));
    }
    case Activation::none: break;
  }
  return x;
}

void gemm(const GemmArgs& g) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < g.m; ++i) {
    const float* a = g.a + size_t(i) * g.lda;
    for (int j = 0; j < g.n; ++j) {
      const float* w = g.packed_w + size_t(j) * g.k;
      float s = 0.0f;
      for (int p = 0; p < g.k; ++p) s += a[p] * w[p];
      if (g.bias) s += g.bias[j];
      s = act_apply(g.act, s);
      if (g.residual) s += g.residual[size_t(i) * g.ldr + j];
      g.c[size_t(i) * g.ldc + j] = s;
    }
  }
}

float quantize_row_s8(const float* x, int n, int8_t* q, int qmax) {
  float amax = 0.0f;
  for (int p = 0; p < n; ++p) amax = std::max(amax, std::fabs(x[p]));
  if (!(amax > 0.0f)) {
    std::memset(q, 0, size_t(n));
    return 0.0f;
  }
  const float fmax = float(qmax);
  const float inv = fmax / amax;
  for (int p = 0; p < n; ++p) {
    float r = std::nearbyint(x[p] * inv);
    if (!(r >= -fmax)) r = -fmax;  // also NaN
    if (r > fmax) r = fmax;
    q[p] = int8_t(r);
  }
  return amax / fmax;
}

// Packed int8 weight (ref): n float scales, then W quantised as is (n*k int8, row-major).
size_t gemm_q8_packed_bytes(int n, int k) { return size_t(n) * 4 + size_t(n) * size_t(k); }

void gemm_q8_pack(const float* w, int n, int k, void* packed) {
  auto* scales = static_cast<float*>(packed);
  auto* q = static_cast<int8_t*>(packed) + size_t(n) * 4;
  for (int j = 0; j < n; ++j) scales[j] = quantize_row_s8(w + size_t(j) * k, k, q + size_t(j) * k, kGemmQ8WeightMax);
}

void gemm_q8(const GemmQArgs& g) {
  const auto* sw = static_cast<const float*>(g.packed_w);
  const auto* wq = static_cast<const int8_t*>(g.packed_w) + size_t(g.n) * 4;
#pragma omp parallel if (double(g.m) * g.n * g.k > 1e6)
  {
    std::vector<int8_t> aq(size_t(std::max(g.k, 1)));
#pragma omp for schedule(static)
    for (int i = 0; i < g.m; ++i) {
      const float sa = quantize_row_s8(g.a + size_t(i) * g.lda, g.k, aq.data(), kGemmQ8ActMax);
      for (int j = 0; j < g.n; ++j) {
        const int8_t* w = wq + size_t(j) * g.k;
        int32_t acc = 0;
        for (int p = 0; p < g.k; ++p) acc += int32_t(aq[size_t(p)]) * int32_t(w[p]);
        const float scale = sa * sw[j];
        float s = std::fma(float(acc), scale, g.bias ? g.bias[j] : 0.0f);
        s = act_apply(g.act, s);
        if (g.residual) s += g.residual[size_t(i) * g.ldr + j];
        g.c[size_t(i) * g.ldc + j] = s;
      }
    }
  }
}

// Packed bf16 weight (ref): W rounded to bf16, n*k row-major.
size_t gemm_bf16_packed_bytes(int n, int k) { return size_t(n) * size_t(k) * 2; }

void gemm_bf16_pack(const float* w, int n, int k, void* packed) {
  auto* out = static_cast<uint16_t*>(packed);
  for (size_t i = 0; i < size_t(n) * size_t(k); ++i) out[i] = float_to_bf16(w[i]);
}

void gemm_bf16(const GemmQArgs& g) {
  const auto* wb = static_cast<const uint16_t*>(g.packed_w);
#pragma omp parallel for schedule(static) if (double(g.m) * g.n * g.k > 1e6)
  for (int i = 0; i < g.m; ++i) {
    const float* a = g.a + size_t(i) * g.lda;
    for (int j = 0; j < g.n; ++j) {
      const uint16_t* w = wb + size_t(j) * g.k;
      float s = 0.0f;
      for (int p = 0; p < g.k; ++p) s += a[p] * bf16_to_float(w[p]);
      if (g.bias) s += g.bias[j];
      s = act_apply(g.act, s);
      if (g.residual) s += g.residual[size_t(i) * g.ldr + j];
      g.c[size_t(i) * g.ldc + j] = s;
    }
  }
}

void attention(const AttentionArgs& a) {
  const int hidden = a.num_heads * a.head_dim;
#pragma omp parallel
  {
    std::vector<float> scores;
#pragma omp for collapse(2) schedule(dynamic)
    for (int s = 0; s < a.nseq; ++s) {
      for (int h = 0; h < a.num_heads; ++h) {
        const int t0 = a.seq_offsets[s], t1 = a.seq_offsets[s + 1];
        scores.resize(size_t(std::max(t1 - t0, 0)));
        for (int t = t0; t < t1; ++t) {
          const float* q = a.qkv + size_t(t) * a.ld_qkv + size_t(h) * a.head_dim;
          float mx = -INFINITY;
          for (int u = t0; u < t1; ++u) {
            const float* kk = a.qkv + size_t(u) * a.ld_qkv + hidden + size_t(h) * a.head_dim;
            float d = 0.0f;
            for (int e = 0; e < a.head_dim; ++e) d += q[e] * kk[e];
            d *= a.scale;
            scores[size_t(u - t0)] = d;
            mx = std::max(mx, d);
          }
          float sum = 0.0f;
          for (int u = t0; u < t1; ++u) {
            float e = std::exp(scores[size_t(u - t0)] - mx);
            scores[size_t(u - t0)] = e;
            sum += e;
          }
          float* o = a.out + size_t(t) * a.ld_out + size_t(h) * a.head_dim;
          for (int e = 0; e < a.head_dim; ++e) o[e] = 0.0f;
          for (int u = t0; u < t1; ++u) {
            const float* v = a.qkv + size_t(u) * a.ld_qkv + 2 * size_t(hidden) + size_t(h) * a.head_dim;
            const float p = scores[size_t(u - t0)] / sum;
            for (int e = 0; e < a.head_dim; ++e) o[e] += p * v[e];
          }
        }
      }
    }
  }
}

void layernorm(int m, int n, const float* x, int ldx, const float* residual, int ldr,
               const float* gamma, const float* beta, float eps, float* out, int ldo) {
  std::vector<float> row(size_t(std::max(n, 0)));
  for (int i = 0; i < m; ++i) {
    const float* xi = x + size_t(i) * ldx;
    for (int j = 0; j < n; ++j) row[j] = xi[j] + (residual ? residual[size_t(i) * ldr + j] : 0.0f);
    double mean = 0.0;
    for (int j = 0; j < n; ++j) mean += row[j];
    mean /= n;
    double var = 0.0;
    for (int j = 0; j < n; ++j) var += (row[j] - mean) * (row[j] - mean);
    var /= n;
    const float inv = float(1.0 / std::sqrt(var + double(eps)));
    float* o = out + size_t(i) * ldo;
    for (int j = 0; j < n; ++j) o[j] = (row[j] - float(mean)) * inv * gamma[j] + beta[j];
  }
}

void gelu_erf(size_t n, float* x) {
  for (size_t i = 0; i < n; ++i) x[i] = act_apply(Activation::gelu_erf, x[i]);
}
void gelu_tanh(size_t n, float* x) {
  for (size_t i = 0; i < n; ++i) x[i] = act_apply(Activation::gelu_tanh, x[i]);
}
void tanh_inplace(size_t n, float* x) {
  for (size_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
}

void softmax_rows(int m, int n, float* x, int ld) {
  for (int i = 0; i < m; ++i) {
    float* r = x + size_t(i) * ld;
    float mx = -INFINITY;
    for (int j = 0; j < n; ++j) mx = std::max(mx, r[j]);
    float s = 0.0f;
    for (int j = 0; j < n; ++j) {
      r[j] = std::exp(r[j] - mx);
      s += r[j];
    }
    for (int j = 0; j < n; ++j) r[j] /= s;
  }
}

void pool_mean(int rows, int n, const float* x, int ld, float* out) {
  for (int j = 0; j < n; ++j) out[j] = 0.0f;
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < n; ++j) out[j] += x[size_t(i) * ld + j];
  const float inv = rows > 0 ? 1.0f / float(rows) : 0.0f;
  for (int j = 0; j < n; ++j) out[j] *= inv;
}

void pool_max(int rows, int n, const float* x, int ld, float* out) {
  for (int j = 0; j < n; ++j) out[j] = rows > 0 ? x[j] : 0.0f;
  for (int i = 1; i < rows; ++i)
    for (int j = 0; j < n; ++j) out[j] = std::max(out[j], x[size_t(i) * ld + j]);
}

void l2_normalize(size_t n, float* x) {
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
  const float inv = float(1.0 / std::max(std::sqrt(s), 1e-12));
  for (size_t i = 0; i < n; ++i) x[i] *= inv;
}

float dot(size_t n, const float* a, const float* b) {
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Filled by name at compile time (a swapped pair of same-typed entries cannot hide in a
// positional list); tests/test_dispatch.cpp checks that no entry is left null.
static constexpr KernelTable make_table() {
  KernelTable t{};
  t.isa = Isa::ref;
  t.gemm_packed_floats = gemm_packed_floats;
  t.gemm_pack = gemm_pack;
  t.gemm = gemm;
  t.attention = attention;
  t.layernorm = layernorm;
  t.gelu_erf = gelu_erf;
  t.gelu_tanh = gelu_tanh;
  t.tanh_inplace = tanh_inplace;
  t.softmax_rows = softmax_rows;
  t.pool_mean = pool_mean;
  t.pool_max = pool_max;
  t.l2_normalize = l2_normalize;
  t.dot = dot;
  t.gemm_q8_packed_bytes = gemm_q8_packed_bytes;
  t.gemm_q8_pack = gemm_q8_pack;
  t.gemm_q8 = gemm_q8;
  t.gemm_bf16_packed_bytes = gemm_bf16_packed_bytes;
  t.gemm_bf16_pack = gemm_bf16_pack;
  t.gemm_bf16 = gemm_bf16;
  return t;
}

const KernelTable& table() {
  static constexpr KernelTable t = make_table();
  return t;
}

}  // namespace bertrank::kernels::ref
