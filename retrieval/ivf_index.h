// ivf_index.h — inverted-file index: a coarse quantizer splits the vectors into `nlist` lists;
// a query visits only the `nprobe` lists whose centroids score highest.
//
// - The coarse quantizer is itself a FlatIndex (f32) over the centroids, searched with k = nprobe.
// - Training: spherical k-means (centroids re-normalised after each update, assignment by inner
//   product, which is cosine for L2-normalised data) on a random sample of at most
//   `train_sample` vectors (default 128 per list), k-means++ initialisation (on at most 32
//   points per list), a fixed seed, `train_iters` Lloyd iterations. A list left empty is
//   re-seeded with a random member of the largest list, which is then split by the next
//   assignment. int8 storage also trains its quantizer on the same sample.
// - Each list keeps its codes, ids and (int8 + rescore) exact copies contiguously; in the file
//   the lists are stored back to back in list order (see index_file.h).
// - Batches of queries run in parallel over queries; a single query runs its probes in
//   parallel. Exactness: with nprobe = nlist every vector is scored by the same kernel as the
//   flat index, so results equal the flat index's.
#pragma once

#include <unordered_map>

#include "retrieval/flat_index.h"

namespace bertrank::retrieval {

struct IvfTrainParams {
  size_t train_sample = 0;  // 0 = 128 * nlist
  size_t train_iters = 12;
  uint64_t seed = 1234;
};

class IvfIndex final : public VectorIndex {
 public:
  IvfIndex(size_t dim, size_t nlist, StorageType storage = StorageType::f32, bool rescore = false);

  IndexKind kind() const override { return IndexKind::ivf; }
  size_t size() const override { return pos_.size(); }
  bool contains(int64_t id) const override { return pos_.count(id) != 0; }
  size_t nlist() const { return nlist_; }
  size_t nprobe() const { return nprobe_; }
  void set_nprobe(size_t p) { nprobe_ = std::max<size_t>(1, std::min(p, nlist_)); }
  bool trained() const { return quantizer_ != nullptr; }
  // Trains the coarse quantizer (and the int8 quantizer). If n < nlist, nlist becomes n.
  void train(size_t n, const float* x, const IvfTrainParams& p = {});
  // Requires a trained index (throws std::logic_error otherwise).
  void add(size_t n, const float* x, const int64_t* ids) override;
  size_t remove(size_t n, const int64_t* ids) override;
  void search(size_t n, const float* queries, size_t k, float* out_scores, int64_t* out_ids,
              const SearchParams& params = {}) const override;
  std::vector<std::vector<Hit>> search_hits(size_t n, const float* queries, size_t k,
                                            const SearchParams& params = {}) const;
  bool reconstruct(int64_t id, float* out) const override;
  std::vector<int64_t> ids() const override;
  size_t list_size(size_t l) const { return lists_[l].ids.size(); }
  const FlatIndex& quantizer() const { return *quantizer_; }

  void write(IndexFileWriter& w, nlohmann::json& meta) const override;
  static std::unique_ptr<IvfIndex> read_from(const IndexFileReader& r, const nlohmann::json& meta);

 protected:
  const float* exact_row(uint64_t loc) const override {
    return (const float*)lists_[loc >> 32].exact.data() + (loc & 0xffffffffu) * dim();
  }

 private:
  IvfIndex() = default;
  struct List {
    Bytes codes;
    std::vector<int64_t> ids;
    Bytes exact;
  };
  size_t nlist_ = 0, nprobe_ = 1;
  std::unique_ptr<FlatIndex> quantizer_;
  std::vector<float> centroids_;  // nlist * dim
  std::vector<List> lists_;
  std::unordered_map<int64_t, uint64_t> pos_;  // id -> list << 32 | position
  void set_centroids(std::vector<float> c);
};

// Spherical k-means (see above); returns k * dim centroids. Exposed for tests.
std::vector<float> kmeans_spherical(size_t n, const float* x, size_t dim, size_t k,
                                    size_t iters, uint64_t seed);

}  // namespace bertrank::retrieval
