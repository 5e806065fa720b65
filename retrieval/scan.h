// scan.h — the inner loops of the vector indexes: inner products of query blocks against row
// blocks, and the storage conversions (fp16, uint8 codes) that feed them.
//
// Contract (every function, every ISA)
//   - Row-major; `ld*` is the distance in elements between consecutive rows. No alignment is
//     required; d may be any value >= 0 (tails are handled, d == 0 gives 0).
//   - ip_block: out[i*ldo + j] = sum_t q[i*ldq + t] * r[j*ldr + t], for i < nq, j < nr.
//     Size of q: nq*ldq, r: nr*ldr, out: nq*ldo floats.
//     Within one table the value computed for a pair (i, j) does not depend on nq, nr or the
//     pair's position in the block (the same 8-lane accumulation order for every tile), so an
//     index scanned in different blocks (flat vs IVF lists) gives bit-identical scores.
//   - f16_to_f32 / f32_to_f16: IEEE binary16 <-> binary32, round to nearest even; n elements.
//   - u8_to_f32: out[t] = (float)in[t]; n elements.
//   - No allocation, no threads, never throws.
//
// The AVX2+FMA+F16C table lives in scan_avx2.cpp, compiled with its own flags; active() picks
// it at run time when the CPU has it, unless BERTRANK_ISA=ref forces the scalar reference.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bertrank::retrieval::scan {

struct ScanTable {
  const char* name;
  void (*ip_block)(size_t nq, const float* q, size_t ldq, size_t nr, const float* r, size_t ldr,
                   size_t d, float* out, size_t ldo);
  void (*f16_to_f32)(size_t n, const uint16_t* in, float* out);
  void (*f32_to_f16)(size_t n, const float* in, uint16_t* out);
  void (*u8_to_f32)(size_t n, const uint8_t* in, float* out);
};

const ScanTable& ref_table();
const ScanTable* avx2_table();  // null when the build or the CPU lacks AVX2+FMA+F16C
const ScanTable& active();

// The first entry of t that is null (or "name" for a null or empty name), or null when the
// table is complete (tests/test_dispatch.cpp).
const char* scan_table_missing_entry(const ScanTable& t);

}  // namespace bertrank::retrieval::scan
