// Fuzz target: the index loader (retrieval/index.h, index_file.h) and what a loaded index must
// then survive: search (dense, BM25, hybrid), add, remove, save and reload. The input is one
// index file; it is loaded without checksum verification so that mutations reach the section
// parsers (the checksum itself is checked on the reload of what this target saved).
// Invariants: load returns or throws an error naming the file; results are ids of the index or
// -1 padding (padding only at the end), best first; add/remove change the size as they say;
// a saved index reloads (checksum verified, mmap) with the same size and documents.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "retrieval/index.h"
#include "tests/fuzz/fuzz_util.h"

using namespace bertrank;
using retrieval::Index;

namespace {

void check_results(const Index& idx, size_t n, size_t k, const std::vector<float>& s, const std::vector<int64_t>& ids,
                   const char* what) {
  for (size_t q = 0; q < n; ++q) {
    bool padding = false;
    for (size_t j = 0; j < k; ++j) {
      const int64_t id = ids[q * k + j];
      if (id == -1) {
        padding = true;
        continue;
      }
      FUZZ_CHECK(!padding, std::string(what) + ": a hit after -1 padding");
      FUZZ_CHECK(idx.contains(id), std::string(what) + ": id " + std::to_string(id) + " is not in the index");
      if (j > 0 && std::isfinite(s[q * k + j]) && std::isfinite(s[q * k + j - 1]))
        FUZZ_CHECK(s[q * k + j] <= s[q * k + j - 1], std::string(what) + ": hits not best first");
    }
  }
}

int64_t free_id(const Index& idx, int64_t from) {
  int64_t id = from;
  while (idx.contains(id)) ++id;  // at most size() steps
  return id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("input.bri", data, size);
  retrieval::LoadOptions lo;
  lo.verify_checksum = false;
  Index idx(1, retrieval::IndexOptions{}, "", "");
  try {
    idx = Index::load(path, lo);
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(std::string(e.what()).find(path) != std::string::npos, std::string("error without the file: ") + e.what());
    return 0;
  }
  const size_t dim = idx.dim();
  FUZZ_CHECK(dim >= 1 && dim <= retrieval::kMaxDim, "dim out of range");

  // Search: two queries, k a little past the size so that padding shows.
  const size_t nq = 2, k = std::min<size_t>(idx.size() + 2, 12);
  std::vector<float> q(nq * dim);
  for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(float(i) * 0.37f);
  std::vector<float> sc(nq * k);
  std::vector<int64_t> ids(nq * k);
  idx.search_dense(nq, q.data(), k, sc.data(), ids.data());
  check_results(idx, nq, k, sc, ids, "search_dense");
  const std::string texts[2] = {"the a of", "x y z 1 2"};
  if (idx.bm25()) {
    idx.search_bm25(nq, texts, k, sc.data(), ids.data());
    check_results(idx, nq, k, sc, ids, "search_bm25");
    idx.search_hybrid(nq, q.data(), texts, k, sc.data(), ids.data());
    check_results(idx, nq, k, sc, ids, "search_hybrid");
  }
  const int64_t some_hit = ids[0];

  // Add two documents with free ids; an IVF index that cannot train on them may refuse
  // (std::invalid_argument), and then nothing may have changed.
  const size_t before = idx.size();
  const int64_t a = free_id(idx, 0), b = free_id(idx, a + 1);
  const int64_t new_ids[2] = {a, b};
  const std::string new_texts[2] = {"fuzz added one", "fuzz added two"};
  const std::string new_metas[2] = {"{\"k\":1}", ""};
  bool added = false;
  try {
    idx.add(2, q.data(), new_ids, new_texts, new_metas);
    added = true;
    FUZZ_CHECK(idx.size() == before + 2, "add did not add 2");
  } catch (const std::invalid_argument&) {
    FUZZ_CHECK(idx.size() == before, "a refused add changed the index");
  }
  // Remove one hit of the first search and one added document.
  size_t expect_removed = 0;
  std::vector<int64_t> rm;
  if (some_hit >= 0 && idx.contains(some_hit)) rm.push_back(some_hit), ++expect_removed;
  if (added) rm.push_back(b), ++expect_removed;
  rm.push_back(-5);  // absent: ignored
  const size_t removed = idx.remove(rm.size(), rm.data());
  FUZZ_CHECK(removed == expect_removed, "remove count");
  if (added) FUZZ_CHECK(idx.contains(a) && !idx.contains(b), "remove removed the wrong document");

  // Save and reload, checksum verified, mmap.
  const std::string out = fuzz::scratch_dir() + "/saved.bri";
  idx.save(out);
  retrieval::LoadOptions lo2;
  lo2.mmap = true;
  Index back = Index::load(out, lo2);
  FUZZ_CHECK(back.size() == idx.size() && back.dim() == idx.dim(), "reload: size or dim differs");
  FUZZ_CHECK(back.model_fingerprint() == idx.model_fingerprint(), "reload: fingerprint differs");
  if (added) {
    const retrieval::Document* d = back.doc(a);
    FUZZ_CHECK(d && d->text == new_texts[0], "reload: added document lost or changed");
  }
  back.search_dense(nq, q.data(), k, sc.data(), ids.data());
  check_results(back, nq, k, sc, ids, "search_dense after reload");
  return 0;
}
