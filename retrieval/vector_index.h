// vector_index.h — what the flat and IVF indexes share: storage types and their codec, the
// fused top-k, search parameters, and the VectorIndex interface.
//
// Search contract (both indexes; FAISS Index.h style, batch-first):
//   search(n, queries, k, out_scores, out_ids, params)
//     queries     size n*dim floats, row-major (L2-normalised for cosine; the score is the
//                 inner product)
//     out_scores  size n*k, best first; out_ids size n*k (the 64-bit external ids)
//     Fewer than k hits (k > size, few lists probed, n == 0 index): the rest of each row is
//     padded with id -1 and score -infinity.
//     Ties are broken by smaller id, so results are deterministic.
//
// Storage (each vector is kept padded to `stride` = dim rounded up to 16, padding = 0):
//   f32   4*stride bytes per vector, exact
//   f16   2*stride bytes (IEEE half, F16C conversion), decoded to f32 block by block
//   int8  stride bytes: per-dimension scalar quantization code = round((x - vmin[d]) /
//         scale[d]) in 0..255 with vmin/scale from the training data (values outside are
//         clamped). Score = q·vmin + (q∘scale)·code, computed exactly on the decoded codes.
//         With `rescore` on, an exact f32 copy (4*dim bytes per vector) is also kept, and the
//         best k*rescore_factor candidates by the int8 score are re-scored exactly.
//
// Ids are external and never change when other vectors are added or removed.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "retrieval/index_file.h"

namespace bertrank::retrieval {

enum class StorageType : uint32_t { f32 = 0, f16 = 1, int8 = 2 };
const char* storage_type_name(StorageType t);
StorageType parse_storage_type(const std::string& s);  // "f32"|"f16"|"int8", throws otherwise

enum class IndexKind : uint32_t { flat = 0, ivf = 1 };
const char* index_kind_name(IndexKind k);
IndexKind parse_index_kind(const std::string& s);  // "flat"|"ivf"

constexpr size_t kMaxDim = 65536;
inline size_t padded_dim(size_t dim) { return (dim + 15) & ~size_t(15); }
size_t row_bytes(StorageType t, size_t stride);

struct SearchParams {
  size_t nprobe = 0;          // IVF lists to visit; 0 = the index's default
  size_t rescore_factor = 0;  // int8+rescore: re-score the best k*factor; 0 = default (8)
};

// Bytes owned by the index, or a read-only view into a loaded file (copied on first write).
class Bytes {
 public:
  const uint8_t* data() const { return view_ ? view_ : own_.data(); }
  size_t size() const { return view_ ? view_size_ : own_.size(); }
  void set_view(const uint8_t* p, size_t n, std::shared_ptr<const void> keep);
  std::vector<uint8_t>& mut();
  void clear();

 private:
  std::vector<uint8_t> own_;
  const uint8_t* view_ = nullptr;
  size_t view_size_ = 0;
  std::shared_ptr<const void> keep_;
};

// Encodes rows to the storage type and decodes blocks of rows to f32 for the scan.
class RowCodec {
 public:
  RowCodec() = default;
  RowCodec(size_t dim, StorageType t);
  size_t dim() const { return dim_; }
  size_t stride() const { return stride_; }
  size_t row_bytes() const { return row_bytes_; }
  StorageType type() const { return type_; }
  bool trained() const { return type_ != StorageType::int8 || !vmin_.empty(); }
  // int8: per-dimension min and max over the n training vectors.
  void train(size_t n, const float* x);
  void encode(size_t n, const float* x, uint8_t* out) const;
  // Query (dim floats) -> qp (stride floats) and the additive bias, so that
  // score = bias + qp · decode(code).
  void prepare_query(const float* q, float* qp, float* bias) const;
  // f32 view of nr rows: the codes themselves (f32) or `buf` (size nr*stride) filled.
  const float* decode(size_t nr, const uint8_t* codes, float* buf) const;
  // Exact reconstruction (dim floats) of one row, for tests and tools.
  void reconstruct(const uint8_t* code, float* out) const;
  const std::vector<float>& vmin() const { return vmin_; }
  const std::vector<float>& scale() const { return scale_; }
  void set_params(std::vector<float> vmin, std::vector<float> scale);

 private:
  size_t dim_ = 0, stride_ = 0, row_bytes_ = 0;
  StorageType type_ = StorageType::f32;
  std::vector<float> vmin_, scale_;  // int8 only, size stride (padding: 0, 0)
};

// One hit; `loc` is where the index keeps the vector (row, or list<<32 | position).
struct Hit {
  float score;
  int64_t id;
  uint64_t loc;
};
inline bool hit_better(const Hit& a, const Hit& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

// Bounded min-heap keeping the k best hits; `threshold()` is what a new score must beat.
class TopK {
 public:
  explicit TopK(size_t k = 0) : k_(k) { heap_.reserve(k); }
  void reset(size_t k) { k_ = k; heap_.clear(); heap_.reserve(k); thresh_ = -INFINITY; }
  inline void push(float s, int64_t id, uint64_t loc) {
    if (s < thresh_ || k_ == 0) return;
    push_slow(Hit{s, id, loc});
  }
  void push_slow(const Hit& h);
  // Sorted best first (consumes the heap).
  std::vector<Hit> take_sorted();
  const std::vector<Hit>& items() const { return heap_; }

 private:
  size_t k_;
  std::vector<Hit> heap_;
  float thresh_ = -INFINITY;
};

// Writes hits (best first) into a row of k, padding with -1 / -inf.
void write_hits(const std::vector<Hit>& hits, size_t k, float* scores, int64_t* ids);

// A contiguous run of stored vectors (the flat index's rows, or one IVF list).
struct RowRun {
  const uint8_t* codes = nullptr;
  const int64_t* ids = nullptr;
  size_t n = 0;
  uint64_t loc_base = 0;
};

// Scans a run for nq prepared queries (qp: nq*stride, bias: nq), pushing into heaps[0..nq).
// Scratch buffers are per thread.
struct ScanScratch {
  std::vector<float> rows, scores;
};
void scan_run(const RowCodec& codec, const RowRun& run, size_t nq, const float* qp,
              const float* bias, TopK* heaps, ScanScratch& scratch);

// Typed, validated META field access; errors name "META.<key>".
uint64_t meta_u64(const IndexFileReader& r, const nlohmann::json& m, const char* key);
bool meta_bool(const IndexFileReader& r, const nlohmann::json& m, const char* key);
std::string meta_string(const IndexFileReader& r, const nlohmann::json& m, const char* key);

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;
  virtual IndexKind kind() const = 0;
  size_t dim() const { return codec_.dim(); }
  StorageType storage() const { return codec_.type(); }
  bool rescore_enabled() const { return rescore_; }
  virtual size_t size() const = 0;
  virtual bool contains(int64_t id) const = 0;
  // Adds n vectors (n*dim floats) with their ids. Throws std::invalid_argument, before changing
  // anything, if an id is already present or repeated in the batch, or the index needs training.
  virtual void add(size_t n, const float* x, const int64_t* ids) = 0;
  // Removes the vectors with these ids (absent ids are ignored); returns how many were removed.
  virtual size_t remove(size_t n, const int64_t* ids) = 0;
  virtual void search(size_t n, const float* queries, size_t k, float* out_scores,
                      int64_t* out_ids, const SearchParams& params = {}) const = 0;
  // Exact or decoded copy of a stored vector (dim floats); false if the id is absent.
  virtual bool reconstruct(int64_t id, float* out) const = 0;
  virtual std::vector<int64_t> ids() const = 0;

  // Persistence (see index_file.h): adds this index's sections and META fields.
  virtual void write(IndexFileWriter& w, nlohmann::json& meta) const = 0;
  // Reads an index of the kind META names; validates every count and size.
  static std::unique_ptr<VectorIndex> read(const IndexFileReader& r, const nlohmann::json& meta);

 protected:
  RowCodec codec_;
  bool rescore_ = false;
  // Re-scores candidates exactly with the f32 copies and keeps the best k.
  std::vector<Hit> rescore_hits(const float* q, std::vector<Hit> cand, size_t k) const;
  virtual const float* exact_row(uint64_t loc) const = 0;
  void write_sq(IndexFileWriter& w) const;
  void read_sq(const IndexFileReader& r);
  // META fields shared by both kinds, validated.
  void write_common_meta(nlohmann::json& meta) const;
  void read_common_meta(const IndexFileReader& r, const nlohmann::json& meta);
};

}  // namespace bertrank::retrieval
