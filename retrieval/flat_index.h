// flat_index.h — exact inner-product search over every stored vector.
//
// Rows are kept contiguously (codes in one buffer, ids in another, f32 copies for int8
// re-scoring in a third). A query batch is scanned block by block: each block of rows is
// decoded once to f32 (a no-op for f32 storage), multiplied against a block of queries by the
// scan kernel (scan.h) and the scores go straight into per-query bounded heaps (fused top-k).
// Threads (OpenMP) split the rows; each keeps its own heaps, merged at the end, so every row
// is read from memory once per query batch.
//
// remove() moves the last row into the hole (O(1)); ids never change. See vector_index.h for
// the search contract and storage types.
#pragma once

#include <unordered_map>

#include "retrieval/vector_index.h"

namespace bertrank::retrieval {

class FlatIndex final : public VectorIndex {
 public:
  // int8 storage trains its quantizer on the first add() unless train() was called;
  // `rescore` (int8 only) keeps exact f32 copies for re-scoring.
  FlatIndex(size_t dim, StorageType storage = StorageType::f32, bool rescore = false);

  IndexKind kind() const override { return IndexKind::flat; }
  size_t size() const override { return ids_.size(); }
  bool contains(int64_t id) const override { return pos_.count(id) != 0; }
  void train(size_t n, const float* x) { codec_.train(n, x); }
  void add(size_t n, const float* x, const int64_t* ids) override;
  size_t remove(size_t n, const int64_t* ids) override;
  void search(size_t n, const float* queries, size_t k, float* out_scores, int64_t* out_ids,
              const SearchParams& params = {}) const override;
  bool reconstruct(int64_t id, float* out) const override;
  std::vector<int64_t> ids() const override { return ids_; }

  // Hits per query (best first, at most k), for callers that fuse lists (IVF, hybrid).
  std::vector<std::vector<Hit>> search_hits(size_t n, const float* queries, size_t k,
                                            const SearchParams& params = {}) const;

  void write(IndexFileWriter& w, nlohmann::json& meta) const override;
  static std::unique_ptr<FlatIndex> read_from(const IndexFileReader& r, const nlohmann::json& meta);

 protected:
  const float* exact_row(uint64_t loc) const override {
    return (const float*)exact_.data() + loc * dim();
  }

 private:
  FlatIndex() = default;
  Bytes codes_;   // size() * row_bytes
  Bytes exact_;   // size() * dim * 4 when rescoring
  std::vector<int64_t> ids_;
  std::unordered_map<int64_t, size_t> pos_;
};

// Checks a batch of ids against an index and itself; throws std::invalid_argument on a repeat.
void check_new_ids(const VectorIndex& index, size_t n, const int64_t* ids);

}  // namespace bertrank::retrieval
