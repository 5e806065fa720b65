// index.h — a retrieval index: vectors (flat or IVF), the documents they stand for (text and
// optional JSON metadata), an optional BM25 index over the same texts, and the model that
// made the vectors. One file on disk (format: index_file.h).
//
//   Index idx(384, opts, model_fingerprint, model_path);
//   idx.add(n, vectors /*n*384*/, ids, texts, metas /*JSON text or "" each; may be null*/);
//   idx.save("docs.bri");                         // atomic
//   Index back = Index::load("docs.bri");          // validated; LoadOptions{.mmap = true}
//   back.check_model(fp);                          // throws ModelMismatchError on another model
//   back.search_dense(n, q, k, scores, ids);       // n*k each, padded with -1 / -inf
//   back.search_bm25(n, texts, k, scores, ids);
//   back.search_hybrid(n, q, texts, k, scores, ids);  // RRF of dense and BM25
//
// Hybrid retrieval is reciprocal rank fusion (Cormack et al. 2009): each of the dense and BM25
// lists contributes 1 / (rrf_k + rank) (rank from 1, rrf_k = 60) for its best `depth`
// (default max(k, 100)) documents; fused scores are sorted best first (ties: smaller id).
//
// Every vector id has exactly one document; add() refuses ids already present (nothing is
// changed), remove() drops vector, document and BM25 entry together.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "retrieval/bm25.h"
#include "retrieval/flat_index.h"
#include "retrieval/ivf_index.h"

namespace bertrank::retrieval {

class ModelMismatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct IndexOptions {
  IndexKind kind = IndexKind::flat;
  StorageType storage = StorageType::f32;
  bool rescore = true;  // int8 only: keep exact copies and re-score the top candidates
  size_t nlist = 0;     // IVF: 0 = about 4*sqrt(n) of the first add()
  size_t nprobe = 0;    // IVF default nprobe: 0 = 8 (capped at nlist)
  IvfTrainParams train;
  bool bm25 = false;
  Bm25Params bm25_params;
};

struct LoadOptions {
  bool mmap = false;
  bool verify_checksum = true;
};

struct Document {
  std::string text;
  std::string meta;  // JSON text, or empty
};

struct HybridParams {
  size_t depth = 0;   // candidates from each list; 0 = max(k, 100)
  double rrf_k = 60;
};

class Index {
 public:
  Index(size_t dim, const IndexOptions& opts, std::string model_fingerprint,
        std::string model_path);
  Index(Index&&) noexcept;
  Index& operator=(Index&&) noexcept;
  ~Index();

  static Index load(const std::string& path, const LoadOptions& opts = {});
  void save(const std::string& path) const;

  const std::string& model_fingerprint() const { return fingerprint_; }
  const std::string& model_path() const { return model_path_; }
  void set_model_path(const std::string& p) { model_path_ = p; }
  // Throws ModelMismatchError unless `fingerprint` is the one the index was built with.
  void check_model(const std::string& fingerprint) const;

  size_t dim() const { return dim_; }
  size_t size() const { return docs_.size(); }
  const IndexOptions& options() const { return opts_; }
  // Null until the first add() (IVF trains then).
  const VectorIndex* vectors() const { return vec_.get(); }
  const Bm25Index* bm25() const { return bm25_ ? &*bm25_ : nullptr; }
  const Document* doc(int64_t id) const;
  bool contains(int64_t id) const { return docs_.count(id) != 0; }

  // vectors: n*dim floats; texts/metas: n strings each or null (empty). Texts are stored as
  // valid UTF-8: invalid bytes become U+FFFD (maximal subparts, as the tokenizer reads them).
  // Throws std::invalid_argument (nothing changed) on a present or repeated id, negative id,
  // or a non-empty meta that is not a JSON object.
  void add(size_t n, const float* vectors, const int64_t* ids, const std::string* texts,
           const std::string* metas);
  size_t remove(size_t n, const int64_t* ids);

  void search_dense(size_t n, const float* queries, size_t k, float* out_scores,
                    int64_t* out_ids, const SearchParams& params = {}) const;
  // Throws std::logic_error if the index has no BM25.
  void search_bm25(size_t n, const std::string* queries, size_t k, float* out_scores,
                   int64_t* out_ids) const;
  void search_hybrid(size_t n, const float* queries, const std::string* texts, size_t k,
                     float* out_scores, int64_t* out_ids, const SearchParams& params = {},
                     const HybridParams& hp = {}) const;

  // Counts, types, sizes, model (the C API's bertrank_index_get_info reports the same; the
  // tests compare a saved and a loaded index by this).
  nlohmann::json info() const;

 private:
  Index() = default;
  static Index load_from(const IndexFileReader& r);
  // The steps of load_from, in order; each validates its part against the file and the ones before.
  void load_model_record(const IndexFileReader& r, const nlohmann::json& meta);
  void load_vectors(const IndexFileReader& r, const nlohmann::json& meta, size_t count);
  void load_documents(const IndexFileReader& r, size_t ndocs);
  void load_bm25(const IndexFileReader& r, const nlohmann::json& meta);
  size_t dim_ = 0;
  IndexOptions opts_;
  std::string fingerprint_, model_path_;
  std::unique_ptr<VectorIndex> vec_;
  std::optional<Bm25Index> bm25_;
  std::unordered_map<int64_t, Document> docs_;
  void ensure_vectors(size_t n, const float* x);
};

// Reciprocal rank fusion of ranked lists (best first); returns the best k.
std::vector<Hit> rrf_fuse(const std::vector<std::vector<Hit>>& lists, size_t k, double rrf_k = 60);

}  // namespace bertrank::retrieval
