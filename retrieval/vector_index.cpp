#include "retrieval/vector_index.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "retrieval/flat_index.h"
#include "retrieval/ivf_index.h"
#include "retrieval/scan.h"

namespace bertrank::retrieval {

const char* storage_type_name(StorageType t) {
  switch (t) {
    case StorageType::f32: return "f32";
    case StorageType::f16: return "f16";
    case StorageType::int8: return "int8";
  }
  return "?";
}
StorageType parse_storage_type(const std::string& s) {
  if (s == "f32") return StorageType::f32;
  if (s == "f16") return StorageType::f16;
  if (s == "int8") return StorageType::int8;
  throw std::invalid_argument("storage type '" + s + "' is not one of f32, f16, int8");
}
const char* index_kind_name(IndexKind k) { return k == IndexKind::flat ? "flat" : "ivf"; }
IndexKind parse_index_kind(const std::string& s) {
  if (s == "flat") return IndexKind::flat;
  if (s == "ivf") return IndexKind::ivf;
  throw std::invalid_argument("index type '" + s + "' is not one of flat, ivf");
}
size_t row_bytes(StorageType t, size_t stride) {
  switch (t) {
    case StorageType::f32: return 4 * stride;
    case StorageType::f16: return 2 * stride;
    case StorageType::int8: return stride;
  }
  return 0;
}

// ---- Bytes ----------------------------------------------------------------------------------
void Bytes::set_view(const uint8_t* p, size_t n, std::shared_ptr<const void> keep) {
  own_.clear();
  own_.shrink_to_fit();
  view_ = p;
  view_size_ = n;
  keep_ = std::move(keep);
  if (!view_) view_ = own_.data();
}
std::vector<uint8_t>& Bytes::mut() {
  if (view_) {
    own_.assign(view_, view_ + view_size_);
    view_ = nullptr;
    view_size_ = 0;
    keep_.reset();
  }
  return own_;
}
void Bytes::clear() {
  own_.clear();
  view_ = nullptr;
  view_size_ = 0;
  keep_.reset();
}

// ---- RowCodec -------------------------------------------------------------------------------
RowCodec::RowCodec(size_t dim, StorageType t)
    : dim_(dim), stride_(padded_dim(dim)), row_bytes_(retrieval::row_bytes(t, padded_dim(dim))), type_(t) {
  if (dim == 0 || dim > kMaxDim)
    throw std::invalid_argument("vector dimension " + std::to_string(dim) + " is outside 1.." +
                                std::to_string(kMaxDim));
}

void RowCodec::train(size_t n, const float* x) {
  if (type_ != StorageType::int8) return;
  if (n == 0) throw std::invalid_argument("int8 storage needs at least one vector to train on");
  std::vector<float> lo(stride_, 0.f), hi(stride_, 0.f);
  for (size_t d = 0; d < dim_; ++d) lo[d] = hi[d] = x[d];
  for (size_t i = 1; i < n; ++i)
    for (size_t d = 0; d < dim_; ++d) {
      const float v = x[i * dim_ + d];
      lo[d] = std::min(lo[d], v);
      hi[d] = std::max(hi[d], v);
    }
  std::vector<float> scale(stride_, 0.f);
  for (size_t d = 0; d < dim_; ++d) scale[d] = (hi[d] - lo[d]) / 255.f;
  set_params(std::move(lo), std::move(scale));
}

void RowCodec::set_params(std::vector<float> vmin, std::vector<float> scale) {
  vmin_ = std::move(vmin);
  scale_ = std::move(scale);
}

void RowCodec::encode(size_t n, const float* x, uint8_t* out) const {
  std::memset(out, 0, n * row_bytes_);
  const auto& sc = scan::active();
  for (size_t i = 0; i < n; ++i) {
    const float* v = x + i * dim_;
    uint8_t* o = out + i * row_bytes_;
    switch (type_) {
      case StorageType::f32: std::memcpy(o, v, dim_ * 4); break;
      case StorageType::f16: sc.f32_to_f16(dim_, v, (uint16_t*)o); break;
      case StorageType::int8:
        for (size_t d = 0; d < dim_; ++d) {
          float c = scale_[d] > 0 ? std::nearbyint((v[d] - vmin_[d]) / scale_[d]) : 0.f;
          c = std::min(255.f, std::max(0.f, c));
          if (!(c == c)) c = 0;
          o[d] = (uint8_t)c;
        }
        break;
    }
  }
}

void RowCodec::prepare_query(const float* q, float* qp, float* bias) const {
  std::fill(qp, qp + stride_, 0.f);
  if (type_ == StorageType::int8) {
    double b = 0;
    for (size_t d = 0; d < dim_; ++d) {
      qp[d] = q[d] * scale_[d];
      b += (double)q[d] * vmin_[d];
    }
    *bias = (float)b;
  } else {
    std::memcpy(qp, q, dim_ * 4);
    *bias = 0.f;
  }
}

const float* RowCodec::decode(size_t nr, const uint8_t* codes, float* buf) const {
  const auto& sc = scan::active();
  switch (type_) {
    case StorageType::f32: return (const float*)codes;
    case StorageType::f16: sc.f16_to_f32(nr * stride_, (const uint16_t*)codes, buf); return buf;
    case StorageType::int8: sc.u8_to_f32(nr * stride_, codes, buf); return buf;
  }
  return buf;
}

void RowCodec::reconstruct(const uint8_t* code, float* out) const {
  switch (type_) {
    case StorageType::f32: std::memcpy(out, code, dim_ * 4); break;
    case StorageType::f16: scan::active().f16_to_f32(dim_, (const uint16_t*)code, out); break;
    case StorageType::int8:
      for (size_t d = 0; d < dim_; ++d) out[d] = vmin_[d] + scale_[d] * (float)code[d];
      break;
  }
}

// ---- top-k ----------------------------------------------------------------------------------
void TopK::push_slow(const Hit& h) {
  if (heap_.size() < k_) {
    heap_.push_back(h);
    std::push_heap(heap_.begin(), heap_.end(), hit_better);
    if (heap_.size() == k_) thresh_ = heap_.front().score;
    return;
  }
  if (!hit_better(h, heap_.front())) return;
  std::pop_heap(heap_.begin(), heap_.end(), hit_better);
  heap_.back() = h;
  std::push_heap(heap_.begin(), heap_.end(), hit_better);
  thresh_ = heap_.front().score;
}

std::vector<Hit> TopK::take_sorted() {
  std::vector<Hit> out;
  out.swap(heap_);
  std::sort(out.begin(), out.end(), hit_better);
  thresh_ = -INFINITY;
  return out;
}

void write_hits(const std::vector<Hit>& hits, size_t k, float* scores, int64_t* ids) {
  const size_t m = std::min(k, hits.size());
  for (size_t j = 0; j < m; ++j) {
    scores[j] = hits[j].score;
    ids[j] = hits[j].id;
  }
  for (size_t j = m; j < k; ++j) {
    scores[j] = -INFINITY;
    ids[j] = -1;
  }
}

// ---- scan -----------------------------------------------------------------------------------
void scan_run(const RowCodec& codec, const RowRun& run, size_t nq, const float* qp,
              const float* bias, TopK* heaps, ScanScratch& s) {
  const size_t stride = codec.stride();
  const size_t B = std::max<size_t>(16, std::min<size_t>(128, (size_t(96) << 10) / (stride * 4)));
  const size_t QC = 32;
  if (codec.type() != StorageType::f32 && s.rows.size() < B * stride) s.rows.resize(B * stride);
  if (s.scores.size() < QC * B) s.scores.resize(QC * B);
  const auto& sc = scan::active();
  for (size_t r0 = 0; r0 < run.n; r0 += B) {
    const size_t nr = std::min(B, run.n - r0);
    const float* rows = codec.decode(nr, run.codes + r0 * codec.row_bytes(), s.rows.data());
    for (size_t q0 = 0; q0 < nq; q0 += QC) {
      const size_t nqc = std::min(QC, nq - q0);
      sc.ip_block(nqc, qp + q0 * stride, stride, nr, rows, stride, stride, s.scores.data(), B);
      for (size_t i = 0; i < nqc; ++i) {
        TopK& h = heaps[q0 + i];
        const float b = bias[q0 + i];
        const float* srow = s.scores.data() + i * B;
        for (size_t j = 0; j < nr; ++j) h.push(srow[j] + b, run.ids[r0 + j], run.loc_base + r0 + j);
      }
    }
  }
}

std::vector<Hit> VectorIndex::rescore_hits(const float* q, std::vector<Hit> cand, size_t k) const {
  const auto& sc = scan::active();
  for (Hit& h : cand) {
    const float* row = exact_row(h.loc);
    sc.ip_block(1, q, dim(), 1, row, dim(), dim(), &h.score, 1);
  }
  std::sort(cand.begin(), cand.end(), hit_better);
  if (cand.size() > k) cand.resize(k);
  return cand;
}

// ---- persistence shared by both kinds ---------------------------------------------------------
void VectorIndex::write_sq(IndexFileWriter& w) const {
  if (codec_.type() != StorageType::int8) return;
  std::vector<uint8_t> b;
  put_bytes(b, codec_.vmin().data(), codec_.stride() * 4);
  put_bytes(b, codec_.scale().data(), codec_.stride() * 4);
  w.add(SectionType::sq_params, std::move(b));
}

void VectorIndex::read_sq(const IndexFileReader& r) {
  if (codec_.type() != StorageType::int8) {
    if (r.has(SectionType::sq_params)) r.fail("section SQ_PARAMS: present but storage is not int8");
    return;
  }
  const auto s = r.get(SectionType::sq_params);
  const size_t stride = codec_.stride();
  if (s.size != stride * 8)
    r.fail("section SQ_PARAMS: size " + std::to_string(s.size) + ", expected " +
           std::to_string(stride * 8) + " (2 x stride x f32)");
  std::vector<float> vmin(stride), scale(stride);
  std::memcpy(vmin.data(), s.data, stride * 4);
  std::memcpy(scale.data(), s.data + stride * 4, stride * 4);
  for (size_t d = 0; d < stride; ++d) {
    if (!std::isfinite(vmin[d]) || !std::isfinite(scale[d]) || scale[d] < 0)
      r.fail("section SQ_PARAMS: dimension " + std::to_string(d) + " has a non-finite or negative parameter");
    if (d >= codec_.dim() && (vmin[d] != 0 || scale[d] != 0))
      r.fail("section SQ_PARAMS: padding dimension " + std::to_string(d) + " is not zero");
  }
  codec_.set_params(std::move(vmin), std::move(scale));
}

void VectorIndex::write_common_meta(nlohmann::json& meta) const {
  meta["kind"] = index_kind_name(kind());
  meta["dim"] = dim();
  meta["stride"] = codec_.stride();
  meta["storage"] = storage_type_name(storage());
  meta["rescore"] = rescore_;
  meta["count"] = size();
}

namespace {
template <class T>
T meta_get(const IndexFileReader& r, const nlohmann::json& m, const char* key) {
  if (!m.contains(key)) r.fail(std::string("META.") + key + ": missing");
  const auto& v = m.at(key);
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) r.fail(std::string("META.") + key + ": not a boolean");
    return v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) r.fail(std::string("META.") + key + ": not a string");
    return v.get<std::string>();
  } else {
    if (!v.is_number_unsigned()) r.fail(std::string("META.") + key + ": not a non-negative integer");
    return v.get<T>();
  }
}
}  // namespace

uint64_t meta_u64(const IndexFileReader& r, const nlohmann::json& m, const char* key) {
  return meta_get<uint64_t>(r, m, key);
}
bool meta_bool(const IndexFileReader& r, const nlohmann::json& m, const char* key) {
  return meta_get<bool>(r, m, key);
}
std::string meta_string(const IndexFileReader& r, const nlohmann::json& m, const char* key) {
  return meta_get<std::string>(r, m, key);
}

void VectorIndex::read_common_meta(const IndexFileReader& r, const nlohmann::json& meta) {
  const uint64_t dim = meta_get<uint64_t>(r, meta, "dim");
  if (dim == 0 || dim > kMaxDim) r.fail("META.dim: " + std::to_string(dim) + " is outside 1.." + std::to_string(kMaxDim));
  const uint64_t stride = meta_get<uint64_t>(r, meta, "stride");
  if (stride != padded_dim(dim))
    r.fail("META.stride: " + std::to_string(stride) + ", expected " + std::to_string(padded_dim(dim)));
  StorageType t;
  try {
    t = parse_storage_type(meta_get<std::string>(r, meta, "storage"));
  } catch (const std::invalid_argument& e) {
    r.fail(std::string("META.storage: ") + e.what());
  }
  codec_ = RowCodec(dim, t);
  rescore_ = meta_get<bool>(r, meta, "rescore");
  if (rescore_ && t != StorageType::int8) r.fail("META.rescore: only int8 storage keeps exact copies");
}

std::unique_ptr<VectorIndex> VectorIndex::read(const IndexFileReader& r, const nlohmann::json& meta) {
  IndexKind kind;
  try {
    kind = parse_index_kind(meta_get<std::string>(r, meta, "kind"));
  } catch (const std::invalid_argument& e) {
    r.fail(std::string("META.kind: ") + e.what());
  }
  if (kind == IndexKind::flat) return FlatIndex::read_from(r, meta);
  return IvfIndex::read_from(r, meta);
}

}  // namespace bertrank::retrieval
