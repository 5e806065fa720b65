// kernels.h — the math of bertrank, behind one dispatch table.
//
// Kernels know nothing of the model: raw pointers, sizes and strides only. Every kernel has a
// scalar reference (kernels/ref/) that is the test oracle and the fallback; the AVX2+FMA and
// AVX-512 versions (kernels/x86/...) are compiled with their own flags and chosen once at
// start-up from cpuid. BERTRANK_ISA=ref|avx2|avx512 forces one (refused if the CPU lacks it).
// The folder's map and the steps for adding an ISA: kernels/README.md.
//
// Conventions for every kernel below
//   - Matrices are row-major; `ld*` is the distance in floats between consecutive rows.
//   - Sizes are in elements. "size m*n" means the buffer holds at least that many floats.
//   - No alignment is required for correctness: every kernel uses unaligned loads and stores.
//     Packed weight buffers are allocated by the caller (model/ aligns them to 64 bytes), and
//     64-byte alignment there only helps speed; the packers do not allocate them.
//   - Sizes that are not multiples of the SIMD width or tile are handled by the same kernels.
//   - Allocation: the fp32 and bf16 GEMMs allocate nothing; the int8 GEMM (its quantised
//     activations) and attention (packed K/V, scores, its table of work units) use per-thread
//     scratch that is grown
//     when a call needs more and kept for the thread's lifetime, so a warm forward pass does
//     not allocate. gemm_q8_pack allocates per panel (load time, not the hot path).
//   - Errors: kernels do not check their arguments (the model validated them). The only
//     exception a kernel throws is std::bad_alloc when its scratch cannot grow; thrown inside
//     a parallel_for task it reaches the kernel's caller (kernels/parallel.h), never abort().
//   - Threading: gemm and attention parallelise internally (kernels/parallel.h: a small task
//     pool sized by omp_get_max_threads(), shared by concurrent callers; serial when called
//     from inside an OpenMP region or a pool task); the elementwise and row kernels are serial,
//     called per row block by the caller.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bertrank::kernels {

enum class Isa : int { ref = 0, avx2 = 1, avx512 = 2 };
// Every ISA the tree knows, in enum order. Within one architecture a later one is preferred:
// select_kernels() picks the last that this CPU and build run. The tests iterate this list, so
// an ISA appended here (kernels/README.md, "Adding an ISA") is tested against ref.
constexpr Isa kAllIsas[] = {Isa::ref, Isa::avx2, Isa::avx512};
const char* isa_name(Isa isa);  // "ref", "avx2", "avx512": the BERTRANK_ISA values

// Epilogue fused into the GEMM store: C = act(A·Wᵀ + bias) (+ residual).
enum class Activation : int { none = 0, gelu_erf = 1, gelu_tanh = 2 };

// ---- GEMM ---------------------------------------------------------------------------------
// Linear layer, as torch.nn.Linear: C[m×n] = act(A[m×k] · Wᵀ + bias[n]) + R[m×n]
//   W is the torch weight, size n*k row-major (out_features × in_features).
//   The weight is packed once (at model load) by gemm_pack into an ISA-private layout of
//   gemm_packed_floats(n, k) floats, 64-byte aligned by the caller's allocator.
//   bias may be null; residual may be null (ldr ignored then). The residual is added after the
//   activation. C may alias residual exactly (same pointer and ld), never partially.
//   m may be anything >= 1, including 1 (a single token: the kernel then streams the packed
//   weights once, a GEMV).
//   The packed layout differs per table (ref: W as is; avx2: 16-column panels, k rows of 16;
//   avx512: 32-column panels), and so does gemm_packed_floats: pack with the table you will
//   call gemm from. Alignment is not needed for correctness (unaligned loads), only for speed.
//   A is read in place (never packed or copied); with act != none, a residual that overlaps
//   C keeps the whole K reduction in registers (correct, slightly slower for K > 384).
struct GemmArgs {
  int m = 0, n = 0, k = 0;
  const float* a = nullptr;       // size m*lda
  int lda = 0;
  const float* packed_w = nullptr;  // from gemm_pack of the same table
  const float* bias = nullptr;      // size n, or null
  const float* residual = nullptr;  // size m*ldr, or null
  int ldr = 0;
  float* c = nullptr;  // size m*ldc
  int ldc = 0;
  Activation act = Activation::none;
};

// ---- Reduced-precision GEMM (int8, bf16) -------------------------------------------------
// Same linear layer and epilogue as gemm (C = act(A·Wᵀ + bias) + R; C may alias R exactly;
// any m >= 1), with W stored at lower precision. A and C stay fp32; so do bias and residual.
// The weight is converted and packed once by the table's *_pack from the fp32 torch weight
// (n*k row-major) into *_packed_bytes(n, k) bytes (64-byte alignment helps, is not needed);
// as for gemm, the layout is private to each table: pack with the table you call from.
//
// int8 (gemm_q8*): per-output-channel symmetric weights and dynamic per-row (per-token)
// symmetric activations, int32 accumulation, fp32 dequantisation in the epilogue. With
// QW = kGemmQ8WeightMax = 64 and QA = kGemmQ8ActMax = 127:
//   sw[j] = max_p |W[j,p]| / QW,   wq[j,p] = clamp(rne(W[j,p] · (QW / max_p |W[j,p]|)), ±QW)
//   sa[i] = max_p |A[i,p]| / QA,   aq[i,p] = clamp(rne(A[i,p] · (QA / max_p |A[i,p]|)), ±QA)
//   C[i,j] = act(fma(float(Σ_p aq[i,p]·wq[j,p]), sa[i]·sw[j], bias[j] or 0)) + R[i,j]
// (aq is computed on every call; an all-zero row or channel has scale 0 and quantises to 0).
// rne is round-to-nearest-even; a NaN quantises to -QA / -QW. The ref and AVX2 kernels compute
// exactly this, bit for bit, when act == none (the GELU epilogues differ by the vector
// erf/tanh, ~1e-6 relative).
// Why the AVX2 kernel cannot saturate, and why 7-bit weights: it multiplies with vpmaddubsw
// (u8 × s8, two adjacent products added into a saturating int16), on activations stored as
// u8 = aq + 128 (1..255) and weights in [-64, 64]: |pair| <= 2·255·64 = 32640 < 32767. Then
// vpmaddwd with ones widens to int32 (4 products per lane) and the +128 offset is removed in
// the epilogue with a precomputed 128·Σ_p wq[j,p]. Full 8-bit weights would overflow the
// int16 pair (2·255·127); the alternatives measured or counted on Zen 3 were slower:
//   - sign-extending both to int16 and vpmaddwd (8-bit everything, no saturation at all): one
//     vpmaddwd + one vpaddd per 16 products; measured 1.5x the fp32 GEMM on one thread, as the
//     vpaddd per vpmaddwd saturates the vector pipes (vpmaddwd itself runs at the FMA rate);
//   - vpsignb to move the sign of A onto W (|A| u7 × s8, 8-bit both): one more vector op per
//     tile element and K step, on the same pipes as the adds.
// vpmaddubsw + vpmaddwd + vpaddd handle 32 products in 3 ops (vs 8 per FMA in fp32). Weight
// precision is the price: half the step of 8 bits (quality: bench/results/precision_quality.md).
// Error bound of one output against the fp32 product (before bias): with |ΔW[j,p]| <= sw[j]/2
// and |ΔA[i,p]| <= sa[i]/2, |error| <= Σ_p (|A||ΔW| + |ΔA||W| + |ΔA||ΔW|)
//   <= k·(amax·sw/2 + wmax·sa/2 + sa·sw/4)   (amax, wmax: the row's and the channel's max |.|),
// and about √k times smaller for independent rounding errors. The AVX-512 table uses the AVX2
// int8 and bf16 kernels (and layouts) until VNNI / AVX512-BF16 ones are written and tested. Accumulation is int32 of
// (aq + 128)·wq terms: exact while k·255·64 < 2^31, so k <= kGemmQ8MaxK.
//
// bf16 (gemm_bf16*): weights rounded to bf16 (nearest even) at pack time; A, every product and
// sum stay fp32: C = act(A·bf16(W)ᵀ + bias) + R, so the error against fp32 is that of the weight
// rounding alone (relative 2^-9 per weight). The AVX2 kernel widens bf16 to fp32 in registers
// (a shift or mask: bf16 is the high half of an fp32) and uses the fp32 FMAs: same arithmetic
// rate as gemm, half the weight bytes. Tolerance against the ref as for gemm (sum order).
struct GemmQArgs {
  int m = 0, n = 0, k = 0;
  const float* a = nullptr;  // size m*lda
  int lda = 0;
  const void* packed_w = nullptr;  // from gemm_q8_pack / gemm_bf16_pack of the same table
  const float* bias = nullptr;     // size n, or null
  const float* residual = nullptr; // size m*ldr, or null
  int ldr = 0;
  float* c = nullptr;  // size m*ldc
  int ldc = 0;
  Activation act = Activation::none;
};
constexpr int kGemmQ8WeightMax = 64;   // int8 weights are in [-64, 64] (see above)
constexpr int kGemmQ8ActMax = 127;     // int8 activations are in [-127, 127]
constexpr int kGemmQ8MaxK = 131072;    // largest k of the int8 kernels (exact int32 sums)

// ---- Attention ----------------------------------------------------------------------------
// Multi-head self-attention over packed variable-length sequences (no padding anywhere).
//   Sequence s owns token rows [seq_offsets[s], seq_offsets[s+1]); seq_offsets has nseq+1
//   entries, non-decreasing, starting at 0. Tokens of different sequences never attend to each
//   other. For head h, token t: q = qkv[t*ld_qkv + h*head_dim ...], k at offset hidden, v at
//   offset 2*hidden, where hidden = num_heads*head_dim (the fused QKV projection's layout).
//   out[t*ld_out + h*head_dim ...] = softmax(q·Kᵀ·scale)·V. Softmax is computed online
//   (running max and sum) so the S×S score matrix is never materialised in full.
//   out must not overlap qkv. Empty sequences (equal offsets) are allowed and cost nothing.
//   Per-thread scratch: head_dim*L floats for K and V of the longest sequence, kept for the
//   thread's lifetime.
struct AttentionArgs {
  const float* qkv = nullptr;  // size T*ld_qkv, T = seq_offsets[nseq]
  int ld_qkv = 0;
  float* out = nullptr;  // size T*ld_out
  int ld_out = 0;
  const int32_t* seq_offsets = nullptr;  // size nseq+1
  int nseq = 0;
  int num_heads = 0;
  int head_dim = 0;
  float scale = 1.0f;  // usually 1/sqrt(head_dim)
};

struct KernelTable {
  Isa isa;

  // GEMM (see above).
  size_t (*gemm_packed_floats)(int n, int k);
  void (*gemm_pack)(const float* w, int n, int k, float* packed);
  void (*gemm)(const GemmArgs& args);

  void (*attention)(const AttentionArgs& args);

  // LayerNorm over rows: out[i] = (x[i] + r[i] - mean) / sqrt(var + eps) * gamma + beta,
  // for m rows of n; residual may be null. out may alias x or residual. ld = row stride.
  void (*layernorm)(int m, int n, const float* x, int ldx, const float* residual, int ldr,
                    const float* gamma, const float* beta, float eps, float* out, int ldo);

  // In-place activations over n contiguous floats.
  void (*gelu_erf)(size_t n, float* x);   // 0.5 x (1 + erf(x/√2)), exact
  void (*gelu_tanh)(size_t n, float* x);  // 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))
  void (*tanh_inplace)(size_t n, float* x);

  // Softmax over each of m rows of n (in place).
  void (*softmax_rows)(int m, int n, float* x, int ld);

  // Pooling over rows [0, rows) of a [rows × n] block (ld = row stride) into out[n].
  void (*pool_mean)(int rows, int n, const float* x, int ld, float* out);
  void (*pool_max)(int rows, int n, const float* x, int ld, float* out);

  // x /= max(||x||₂, 1e-12) in place (as torch.nn.functional.normalize).
  void (*l2_normalize)(size_t n, float* x);

  float (*dot)(size_t n, const float* a, const float* b);

  // int8 GEMM (see "Reduced-precision GEMM" above); k <= kGemmQ8MaxK.
  size_t (*gemm_q8_packed_bytes)(int n, int k);
  void (*gemm_q8_pack)(const float* w, int n, int k, void* packed);
  void (*gemm_q8)(const GemmQArgs& args);

  // bf16-weight GEMM (see "Reduced-precision GEMM" above).
  size_t (*gemm_bf16_packed_bytes)(int n, int k);
  void (*gemm_bf16_pack)(const float* w, int n, int k, void* packed);
  void (*gemm_bf16)(const GemmQArgs& args);
};

// The table for the best ISA this CPU supports, or the one BERTRANK_ISA forces. Chosen once,
// on first call (thread-safe). Throws std::runtime_error if BERTRANK_ISA names an ISA this CPU
// (or build) lacks, or a name it does not know.
const KernelTable& active();

// What active() does, for a given BERTRANK_ISA value: null or "" picks the best table this CPU
// and build support; "ref", "avx2" or "avx512" force one. Throws std::runtime_error with a
// message naming the problem if the name is unknown or the CPU (or build) lacks that ISA.
const KernelTable& select_kernels(const char* forced_isa);

// A specific table, or null if the CPU or the build lacks it. For tests and benchmarks.
const KernelTable* kernels_for(Isa isa);

// The table the build has for an ISA whether or not this CPU can run it (null if the build
// lacks it), to inspect its entries (tests/test_dispatch.cpp): never call through it without
// kernels_for(). The tables are constant-initialised, so getting one runs no ISA code.
const KernelTable* kernels_built(Isa isa);

// The name of the first null entry of t ("gemm_bf16"), or null when every entry is set.
const char* kernel_table_missing_entry(const KernelTable& t);

// Whether this CPU (and OS) supports the ISA.
bool cpu_supports(Isa isa);

}  // namespace bertrank::kernels
