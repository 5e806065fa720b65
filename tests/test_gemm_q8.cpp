// int8 and bf16 GEMM (kernels.h, "Reduced-precision GEMM"). int8: every SIMD table against the scalar
// reference on sizes that hit every tail path (bit-exact without GELU: both compute the same
// integer sums and the same fp32 epilogue), extreme values that would saturate an int16
// pair sum if the kernel let them, the documented error bound against the fp32 GEMM, and
// C aliasing the residual. bf16: every table against the reference on the same sizes, the
// error against fp32 within the weight rounding, and the rounding itself.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/half.h"
#include "kernel_test_util.h"
#include "kernels/kernels.h"
#include "kernels/ref/kernels_ref.h"

namespace bk = bertrank::kernels;
using bk::Activation;
using bk::Isa;

namespace {

const int kSizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 384, 1536};

const bk::KernelTable& ref() { return bertrank::test::ref_kernels(); }

using bertrank::test::random_vec;

struct Bytes {
  void* p = nullptr;
  explicit Bytes(size_t n) { p = std::aligned_alloc(64, (n + 63) / 64 * 64 + 64); }
  ~Bytes() { std::free(p); }
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;
};

struct Case {
  int m, n, k;
  bool bias = false, residual = false;
  Activation act = Activation::none;
  bool alias = false;  // C == residual
};

// Runs the case with table t; returns C.
std::vector<float> run(const bk::KernelTable& t, const Case& c, const std::vector<float>& a,
                       const std::vector<float>& w, const std::vector<float>& bias, const std::vector<float>& res) {
  Bytes packed(t.gemm_q8_packed_bytes(c.n, c.k));
  t.gemm_q8_pack(w.data(), c.n, c.k, packed.p);
  std::vector<float> out(size_t(c.m) * c.n, -7.0f);
  if (c.alias) out = res;
  bk::GemmQArgs g;
  g.m = c.m;
  g.n = c.n;
  g.k = c.k;
  g.a = a.data();
  g.lda = c.k;
  g.packed_w = packed.p;
  g.bias = c.bias ? bias.data() : nullptr;
  g.residual = c.residual ? (c.alias ? out.data() : res.data()) : nullptr;
  g.ldr = c.n;
  g.c = out.data();
  g.ldc = c.n;
  g.act = c.act;
  t.gemm_q8(g);
  return out;
}

class GemmQ8Isa : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    t_ = bk::kernels_for(GetParam());
    if (!t_) GTEST_SKIP() << "this CPU (or build) lacks " << bk::isa_name(GetParam());
  }
  const bk::KernelTable& t() const { return *t_; }

  void check(const Case& c, unsigned seed, float a_scale = 1.0f) {
    SCOPED_TRACE("m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
                 " act=" + std::to_string(int(c.act)) + (c.alias ? " alias" : ""));
    auto a = random_vec(size_t(c.m) * c.k, seed, -a_scale, a_scale);
    auto w = random_vec(size_t(c.n) * c.k, seed + 1, -0.2f, 0.2f);
    auto bias = random_vec(size_t(c.n), seed + 2);
    auto res = random_vec(size_t(c.m) * c.n, seed + 3);
    const auto got = run(t(), c, a, w, bias, res);
    const auto want = run(ref(), c, a, w, bias, res);
    if (c.act == Activation::none) {
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
    } else {
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 2e-6f * (1.0f + std::fabs(want[i]))) << "at " << i;
    }
  }
  const bk::KernelTable* t_ = nullptr;
};

TEST_P(GemmQ8Isa, AllShapesMatchReferenceExactly) {
  if (GetParam() == Isa::ref) GTEST_SKIP() << "the reference is the oracle of this test";
  unsigned seed = 1;
  for (int m : kSizes) {
    if (m > 65) continue;
    for (int n : kSizes) {
      if (n > 65) continue;
      for (int k : kSizes) {
        seed += 4;  // before the flags read it (clang: -Wunsequenced)
        check({m, n, k, (seed & 1) != 0, (seed & 2) != 0}, seed);
      }
    }
  }
}

TEST_P(GemmQ8Isa, LargeShapesWithEpilogues) {
  if (GetParam() == Isa::ref) GTEST_SKIP() << "the reference is the oracle of this test";
  check({384, 1536, 384, true, false, Activation::gelu_erf}, 11);
  check({65, 384, 1536, true, true}, 12);
  check({33, 1152, 384, true, false}, 13);
  check({1, 1536, 384, true, false, Activation::gelu_tanh}, 14);
  check({1, 384, 1536, true, true}, 15);
  check({17, 33, 65, true, true, Activation::gelu_erf, true}, 16);  // C == residual
  check({100, 384, 1536, true, true, Activation::none, true}, 17);
}

// Every activation at ±127 and weight at ±64 after quantisation: with the +128 offset the
// vpmaddubsw pairs reach 2·255·64 = 32640 (pattern 0: a = 255 as u8 times w = -64) and the
// int32 sums k·127·64 exactly. 8-bit weights (±127) would saturate the int16 pair here.
TEST_P(GemmQ8Isa, ExtremeValuesDoNotSaturate) {
  for (int k : {2, 3, 64, 1536, 4099}) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      const int m = 7, n = 17;
      std::vector<float> a(size_t(m) * k), w(size_t(n) * k);
      double want_sum = 0;  // sum over p of sign(a)*sign(w) for row 0 and column 0
      for (int i = 0; i < m; ++i)
        for (int p = 0; p < k; ++p) a[size_t(i) * k + p] = (pattern == 2 && p % 2) ? -3.0f : 3.0f;
      for (int j = 0; j < n; ++j)
        for (int p = 0; p < k; ++p) w[size_t(j) * k + p] = (pattern == 0 || (pattern == 2 && p % 2)) ? -0.5f : 0.5f;
      for (int p = 0; p < k; ++p) want_sum += double(a[size_t(p)] > 0 ? 1 : -1) * (w[size_t(p)] > 0 ? 1 : -1);
      const Case c{m, n, k};
      const std::vector<float> none;
      const auto got = run(t(), c, a, w, none, none);
      const auto want = run(ref(), c, a, w, none, none);
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << "k=" << k;
      // acc = want_sum·127·64, dequantised with (3/127)(0.5/64): 1.5·want_sum up to fp32 rounding.
      for (float x : got) ASSERT_NEAR(x, 1.5 * want_sum, 1e-6 * std::fabs(1.5 * want_sum) + 1e-6) << "k=" << k;
    }
  }
}

// Against the fp32 GEMM: within the bound kernels.h states, for activations with an outlier.
TEST_P(GemmQ8Isa, ErrorWithinDocumentedBound) {
  const int m = 19, n = 40, k = 384;
  auto a = random_vec(size_t(m) * k, 5, -1.0f, 1.0f);
  for (int i = 0; i < m; ++i) a[size_t(i) * k + 7] = 12.0f;  // an outlier channel, as in BERT
  auto w = random_vec(size_t(n) * k, 6, -0.1f, 0.1f);
  const Case c{m, n, k};
  const std::vector<float> none;
  const auto got = run(t(), c, a, w, none, none);
  for (int i = 0; i < m; ++i) {
    float amax = 0;
    for (int p = 0; p < k; ++p) amax = std::max(amax, std::fabs(a[size_t(i) * k + p]));
    for (int j = 0; j < n; ++j) {
      float wmax = 0;
      double exact = 0;
      for (int p = 0; p < k; ++p) {
        wmax = std::max(wmax, std::fabs(w[size_t(j) * k + p]));
        exact += double(a[size_t(i) * k + p]) * w[size_t(j) * k + p];
      }
      const double sa = amax / double(bk::kGemmQ8ActMax), sw = wmax / double(bk::kGemmQ8WeightMax);
      const double bound = k * (amax * sw / 2 + wmax * sa / 2 + sa * sw / 4) + 1e-5;
      ASSERT_LE(std::fabs(got[size_t(i) * n + j] - exact), bound) << i << "," << j;
    }
  }
}

TEST_P(GemmQ8Isa, ZeroRowsAndChannels) {
  const int m = 5, n = 9, k = 33;
  std::vector<float> a = random_vec(size_t(m) * k, 8), w = random_vec(size_t(n) * k, 9);
  std::fill(a.begin() + 2 * k, a.begin() + 3 * k, 0.0f);  // row 2
  std::fill(w.begin() + 4 * k, w.begin() + 5 * k, 0.0f);  // channel 4
  const auto bias = random_vec(size_t(n), 10);
  const Case c{m, n, k, true};
  const std::vector<float> none;
  const auto got = run(t(), c, a, w, bias, none);
  const auto want = run(ref(), c, a, w, bias, none);
  ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)));
  for (int j = 0; j < n; ++j) EXPECT_EQ(got[size_t(2) * n + j], bias[size_t(j)]);
  for (int i = 0; i < m; ++i) EXPECT_EQ(got[size_t(i) * n + 4], bias[4]);
}

INSTANTIATE_TEST_SUITE_P(Isa, GemmQ8Isa, ::testing::ValuesIn(bk::kAllIsas),
                         [](const auto& info) { return std::string(bk::isa_name(info.param)); });

TEST(GemmQ8Quantize, RowMatchesDefinition) {
  // max|x| = 127 and qmax 127: scale 1, so q = rne(x) (63.5 -> 64, 62.5 -> 62, 0.5 -> 0, -2.5 -> -2).
  const float x[] = {63.5f, 62.5f, -127.0f, 0.5f, 1.5f, -2.5f, 0.0f};
  int8_t q[7];
  EXPECT_EQ(bk::ref::quantize_row_s8(x, 7, q, 127), 1.0f);
  const int8_t want[] = {64, 62, -127, 0, 2, -2, 0};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(q[i], want[i]) << i;
  // max|x| = 64 and qmax 64 (weights): scale 1 again.
  const float y[] = {-64.0f, 10.5f, 11.5f, 63.9f};
  EXPECT_EQ(bk::ref::quantize_row_s8(y, 4, q, 64), 1.0f);
  const int8_t want_y[] = {-64, 10, 12, 64};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(q[i], want_y[i]) << i;
  const float z[3] = {0, 0, 0};
  q[0] = 5;
  EXPECT_EQ(bk::ref::quantize_row_s8(z, 3, q, 127), 0.0f);
  EXPECT_EQ(q[0], 0);
}

}  // namespace

// ---- bf16 weights -----------------------------------------------------------------------
namespace {

std::vector<float> run_bf16(const bk::KernelTable& t, const Case& c, const std::vector<float>& a,
                            const std::vector<float>& w, const std::vector<float>& bias, const std::vector<float>& res) {
  Bytes packed(t.gemm_bf16_packed_bytes(c.n, c.k));
  t.gemm_bf16_pack(w.data(), c.n, c.k, packed.p);
  std::vector<float> out(size_t(c.m) * c.n, -7.0f);
  if (c.alias) out = res;
  bk::GemmQArgs g;
  g.m = c.m, g.n = c.n, g.k = c.k, g.a = a.data(), g.lda = c.k, g.packed_w = packed.p;
  g.bias = c.bias ? bias.data() : nullptr;
  g.residual = c.residual ? (c.alias ? out.data() : res.data()) : nullptr;
  g.ldr = c.n, g.c = out.data(), g.ldc = c.n, g.act = c.act;
  t.gemm_bf16(g);
  return out;
}

class GemmBf16Isa : public GemmQ8Isa {};

// Against the ref (same bf16 weights, fp32 sums in another order): |diff| within
// 1e-6·k·max|a|·max|w| + the GELU difference, on every tail size.
TEST_P(GemmBf16Isa, AllShapesMatchReference) {
  if (GetParam() == Isa::ref) GTEST_SKIP() << "the reference is the oracle of this test";
  unsigned seed = 100;
  std::vector<Case> cases;
  for (int m : kSizes)
    for (int n : kSizes)
      if (m <= 65 && n <= 65)
        for (int k : kSizes) cases.push_back({m, n, k, (seed & 1) != 0, (seed & 2) != 0, Activation::none, false}), ++seed;
  cases.push_back({384, 1536, 384, true, false, Activation::gelu_erf});
  cases.push_back({65, 384, 1536, true, true, Activation::none, true});
  cases.push_back({1, 1152, 384, true, false, Activation::gelu_tanh});
  // Row tiles are spread evenly over an M block, so the 2-row micro-kernel needs m = 2.
  cases.push_back({2, 40, 65, true, true, Activation::none, false});
  cases.push_back({2, 17, 33, false, false, Activation::gelu_erf, false});
  for (const Case& c : cases) {
    auto a = random_vec(size_t(c.m) * c.k, seed, -1, 1);
    auto w = random_vec(size_t(c.n) * c.k, seed + 1, -0.2f, 0.2f);
    auto bias = random_vec(size_t(c.n), seed + 2), res = random_vec(size_t(c.m) * c.n, seed + 3);
    seed += 4;
    const auto got = run_bf16(t(), c, a, w, bias, res), want = run_bf16(ref(), c, a, w, bias, res);
    const float tol = 1e-6f * float(c.k) * 0.2f + 1e-5f;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], tol) << "m=" << c.m << " n=" << c.n << " k=" << c.k << " at " << i;
  }
}

// Against fp32: the error is the weight rounding alone, |ΔW| <= 2^-9·|W|.
TEST_P(GemmBf16Isa, ErrorIsWeightRoundingOnly) {
  const int m = 9, n = 33, k = 384;
  const auto a = random_vec(size_t(m) * k, 21), w = random_vec(size_t(n) * k, 22, -0.3f, 0.3f);
  const std::vector<float> none;
  const auto got = run_bf16(t(), {m, n, k}, a, w, none, none);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double exact = 0, bound = 0;
      for (int p = 0; p < k; ++p) {
        exact += double(a[size_t(i) * k + p]) * w[size_t(j) * k + p];
        bound += std::fabs(double(a[size_t(i) * k + p]) * w[size_t(j) * k + p]);
      }
      ASSERT_LE(std::fabs(got[size_t(i) * n + j] - exact), bound * (1.0 / 512 + 1e-5)) << i << "," << j;
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, GemmBf16Isa, ::testing::ValuesIn(bk::kAllIsas),
                         [](const auto& info) { return std::string(bk::isa_name(info.param)); });

TEST(GemmBf16Round, NearestEven) {
  namespace r = bertrank;  // common/half.h, what the ref and AVX2 bf16 packers call
  EXPECT_EQ(r::float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(r::bf16_to_float(0x3F80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0); 1 + 3·2^-8 rounds up to 1 + 2^-6.
  EXPECT_EQ(r::float_to_bf16(1.0f + 1.0f / 256), 0x3F80);
  EXPECT_EQ(r::float_to_bf16(1.0f + 3.0f / 256), 0x3F82);
  EXPECT_EQ(r::float_to_bf16(-2.0f), 0xC000);
  EXPECT_TRUE(std::isnan(r::bf16_to_float(r::float_to_bf16(std::nanf("")))));
  EXPECT_EQ(r::float_to_bf16(INFINITY), 0x7F80);
}

}  // namespace
