#include "retrieval/index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "common/checked_size.h"
#include "common/json_strict.h"
#include "common/utf8.h"

namespace bertrank::retrieval {

Index::Index(size_t dim, const IndexOptions& opts, std::string fp, std::string path)
    : dim_(dim), opts_(opts), fingerprint_(std::move(fp)), model_path_(std::move(path)) {
  if (dim == 0 || dim > kMaxDim) throw std::invalid_argument("index dimension must be in 1..65536");
  if (opts_.storage != StorageType::int8) opts_.rescore = false;
  if (opts_.bm25) bm25_.emplace(opts_.bm25_params);
  if (opts_.kind == IndexKind::flat) vec_ = std::make_unique<FlatIndex>(dim, opts_.storage, opts_.rescore);
}
Index::Index(Index&&) noexcept = default;
Index& Index::operator=(Index&&) noexcept = default;
Index::~Index() = default;

void Index::check_model(const std::string& fingerprint) const {
  if (fingerprint != fingerprint_)
    throw ModelMismatchError("the index was built with model fingerprint '" + fingerprint_ +
                             "' (model file '" + model_path_ + "'), but the query model's is '" +
                             fingerprint + "': vectors from different models are not comparable; "
                             "rebuild the index or pass the model that built it");
}

const Document* Index::doc(int64_t id) const {
  auto it = docs_.find(id);
  return it == docs_.end() ? nullptr : &it->second;
}

void Index::ensure_vectors(size_t n, const float* x) {
  if (vec_) return;
  size_t nlist = opts_.nlist;
  if (nlist == 0) nlist = std::max<size_t>(1, (size_t)std::lround(4 * std::sqrt((double)n)));
  auto ivf = std::make_unique<IvfIndex>(dim_, nlist, opts_.storage, opts_.rescore);
  ivf->train(n, x, opts_.train);
  ivf->set_nprobe(opts_.nprobe ? opts_.nprobe : 8);
  opts_.nlist = ivf->nlist();
  opts_.nprobe = ivf->nprobe();
  vec_ = std::move(ivf);
}

void Index::add(size_t n, const float* vectors, const int64_t* ids, const std::string* texts,
                const std::string* metas) {
  if (n == 0) return;
  std::unordered_set<int64_t> seen;
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] < 0) throw std::invalid_argument("id " + std::to_string(ids[i]) + " is negative");
    if (docs_.count(ids[i]) || !seen.insert(ids[i]).second)
      throw std::invalid_argument("id " + std::to_string(ids[i]) + " is already in the index");
    if (metas && !metas[i].empty()) {
      const StrictJson j = json_parse_strict(metas[i]);
      if (!j.ok() || !j.value.is_object())
        throw std::invalid_argument("meta of id " + std::to_string(ids[i]) + " " +
                                    (j.ok() ? std::string("is not a JSON object") : j.problem()));
    }
  }
  ensure_vectors(n, vectors);
  vec_->add(n, vectors, ids);
  for (size_t i = 0; i < n; ++i) {
    Document d;
    // What is stored is valid UTF-8 whoever adds it (the readers decode already; this covers
    // the C API): invalid bytes become U+FFFD, as the tokenizer reads them anyway.
    if (texts) d.text = utf8_is_valid(texts[i]) ? texts[i] : utf8_replace_invalid(texts[i]);
    if (metas && !metas[i].empty()) d.meta = json_parse_strict(metas[i]).value.dump();
    if (bm25_) bm25_->add(ids[i], d.text);
    docs_.emplace(ids[i], std::move(d));
  }
}

size_t Index::remove(size_t n, const int64_t* ids) {
  size_t removed = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!docs_.erase(ids[i])) continue;
    if (vec_) vec_->remove(1, &ids[i]);
    if (bm25_) bm25_->remove(ids[i]);
    ++removed;
  }
  return removed;
}

void Index::search_dense(size_t n, const float* q, size_t k, float* s, int64_t* o,
                         const SearchParams& p) const {
  const size_t nk = size_mul(n, k, "search: n * k");
  if (!vec_) {
    for (size_t i = 0; i < nk; ++i) { s[i] = -INFINITY; o[i] = -1; }
    return;
  }
  vec_->search(n, q, k, s, o, p);
}

void Index::search_bm25(size_t n, const std::string* queries, size_t k, float* s, int64_t* o) const {
  if (!bm25_) throw std::logic_error("this index has no BM25 (build it with --bm25)");
  bm25_->search(n, queries, k, s, o);
}

std::vector<Hit> rrf_fuse(const std::vector<std::vector<Hit>>& lists, size_t k, double rrf_k) {
  std::unordered_map<int64_t, double> acc;
  for (const auto& l : lists)
    for (size_t r = 0; r < l.size(); ++r)
      if (l[r].id >= 0) acc[l[r].id] += 1.0 / (rrf_k + (double)(r + 1));
  TopK heap(std::min(k, acc.size()));  // memory bounded by the fused lists, not by k
  for (auto& [id, v] : acc) heap.push((float)v, id, 0);
  return heap.take_sorted();
}

void Index::search_hybrid(size_t n, const float* q, const std::string* texts, size_t k, float* s,
                          int64_t* o, const SearchParams& p, const HybridParams& hp) const {
  if (!bm25_) throw std::logic_error("hybrid search needs BM25 (build the index with --bm25)");
  size_mul(n, k, "hybrid search: n * k");
  // Neither list can hold more than the index: memory is bounded by it, not by the request.
  const size_t depth = std::min(hp.depth ? hp.depth : std::max<size_t>(k, 100), size());
  std::vector<float> ds(size_mul(n, depth, "hybrid search: n * depth"));
  std::vector<int64_t> di(ds.size());
  search_dense(n, q, depth, ds.data(), di.data(), p);
  for (size_t i = 0; i < n; ++i) {
    std::vector<std::vector<Hit>> lists(2);
    for (size_t j = 0; j < depth && di[i * depth + j] >= 0; ++j)
      lists[0].push_back(Hit{ds[i * depth + j], di[i * depth + j], 0});
    lists[1] = bm25_->search(texts[i], depth);
    write_hits(rrf_fuse(lists, k, hp.rrf_k), k, s + i * k, o + i * k);
  }
}

nlohmann::json Index::info() const {
  nlohmann::json j;
  j["documents"] = size();
  j["dim"] = dim_;
  j["type"] = index_kind_name(opts_.kind);
  j["storage"] = storage_type_name(opts_.storage);
  j["rescore"] = opts_.rescore;
  if (opts_.kind == IndexKind::ivf) {
    j["nlist"] = opts_.nlist;
    j["nprobe"] = opts_.nprobe;
  }
  j["model"] = {{"fingerprint", fingerprint_}, {"path", model_path_}};
  if (bm25_)
    j["bm25"] = {{"k1", std::round(bm25_->params().k1 * 1e6) / 1e6}, {"b", std::round(bm25_->params().b * 1e6) / 1e6},
                 {"stopwords", bm25_->params().stopwords}, {"vocabulary", bm25_->vocabulary_size()}};
  else
    j["bm25"] = nullptr;
  return j;
}

// ---- persistence ------------------------------------------------------------------------------
void Index::save(const std::string& path) const {
  IndexFileWriter w;
  nlohmann::json meta;
  meta["format"] = "bertrank-index";
  meta["model"] = {{"fingerprint", fingerprint_}, {"path", model_path_}};
  meta["docs"] = docs_.size();
  meta["bm25"] = bm25_ ? true : false;
  std::unique_ptr<VectorIndex> empty;
  const VectorIndex* v = vec_.get();
  if (v) {
    v->write(w, meta);
  } else {
    meta["kind"] = index_kind_name(opts_.kind);
    meta["dim"] = dim_;
    meta["stride"] = padded_dim(dim_);
    meta["storage"] = storage_type_name(opts_.storage);
    meta["rescore"] = opts_.rescore;
    meta["count"] = 0;
    meta["untrained"] = true;
    meta["nlist"] = opts_.nlist;
    meta["nprobe"] = opts_.nprobe;
  }
  // Documents in the order of the vector ids (stable across saves of the same index).
  std::vector<int64_t> order = v ? v->ids() : std::vector<int64_t>{};
  std::vector<uint8_t> d;
  put_u64(d, order.size());
  for (int64_t id : order) {
    const Document& doc = docs_.at(id);
    put_i64(d, id);
    put_u64(d, doc.text.size());
    put_u64(d, doc.meta.size());
  }
  for (int64_t id : order) {
    const Document& doc = docs_.at(id);
    put_bytes(d, doc.text.data(), doc.text.size());
    put_bytes(d, doc.meta.data(), doc.meta.size());
  }
  w.add(SectionType::docs, std::move(d));
  if (bm25_) bm25_->write(w);
  const std::string ms = meta.dump();
  w.add(SectionType::meta, std::vector<uint8_t>(ms.begin(), ms.end()));
  w.write_atomic(path);
}

Index Index::load(const std::string& path, const LoadOptions& lo) {
  IndexFileReader r(path, IndexFileReader::Options{lo.mmap, lo.verify_checksum});
  try {
    return load_from(r);
  } catch (const IndexFileError& e) {
    const std::string m = e.what();
    if (m.rfind("index file '", 0) == 0) throw;
    r.fail(m);  // e.g. an overflow found by checked_add: name the file
  }
}

namespace {
// Section META: a JSON object of format "bertrank-index".
nlohmann::json read_meta(const IndexFileReader& r) {
  const auto ms = r.get(SectionType::meta);
  StrictJson parsed = json_parse_strict((const char*)ms.data, (const char*)ms.data + ms.size);
  if (!parsed.duplicate_key.empty()) r.fail("section META " + parsed.problem());
  if (!parsed.ok()) r.fail("section META: not a JSON object: " + parsed.syntax_error);
  nlohmann::json meta = std::move(parsed.value);
  if (!meta.is_object()) r.fail("section META: not a JSON object");
  if (meta_string(r, meta, "format") != "bertrank-index") r.fail("META.format: not 'bertrank-index'");
  return meta;
}
}  // namespace

Index Index::load_from(const IndexFileReader& r) {
  const nlohmann::json meta = read_meta(r);
  Index x;
  x.load_model_record(r, meta);
  const size_t count = meta_u64(r, meta, "count");
  const size_t ndocs = meta_u64(r, meta, "docs");
  if (ndocs != count)
    r.fail("META.docs: " + std::to_string(ndocs) + " documents but META.count is " + std::to_string(count) + " vectors");
  x.load_vectors(r, meta, count);
  x.load_documents(r, ndocs);
  x.load_bm25(r, meta);
  return x;
}

void Index::load_model_record(const IndexFileReader& r, const nlohmann::json& meta) {
  if (!meta.contains("model") || !meta["model"].is_object()) r.fail("META.model: missing or not an object");
  for (const char* key : {"fingerprint", "path"})
    if (!meta["model"].contains(key) || !meta["model"][key].is_string())
      r.fail(std::string("META.model.") + key + ": missing or not a string");
  fingerprint_ = meta["model"]["fingerprint"].get<std::string>();
  model_path_ = meta["model"]["path"].get<std::string>();
}

// An index saved before its first add() has no vectors: its kind and storage are in META.
void Index::load_vectors(const IndexFileReader& r, const nlohmann::json& meta, size_t count) {
  const bool untrained = meta.contains("untrained") && meta["untrained"].is_boolean() && meta["untrained"].get<bool>();
  if (untrained) {
    if (count != 0) r.fail("META.untrained: set but META.count is not 0");
    dim_ = meta_u64(r, meta, "dim");
    if (dim_ == 0 || dim_ > kMaxDim) r.fail("META.dim: out of range");
    try {
      opts_.kind = parse_index_kind(meta_string(r, meta, "kind"));
      opts_.storage = parse_storage_type(meta_string(r, meta, "storage"));
    } catch (const std::invalid_argument& e) {
      r.fail(std::string("META: ") + e.what());
    }
    opts_.rescore = meta_bool(r, meta, "rescore");
    opts_.nlist = meta_u64(r, meta, "nlist");
    opts_.nprobe = meta_u64(r, meta, "nprobe");
    if (opts_.kind == IndexKind::flat) vec_ = std::make_unique<FlatIndex>(dim_, opts_.storage, opts_.rescore);
    return;
  }
  vec_ = VectorIndex::read(r, meta);
  dim_ = vec_->dim();
  opts_.kind = vec_->kind();
  opts_.storage = vec_->storage();
  opts_.rescore = vec_->rescore_enabled();
  if (auto* ivf = dynamic_cast<IvfIndex*>(vec_.get())) {
    opts_.nlist = ivf->nlist();
    opts_.nprobe = ivf->nprobe();
  }
}

// Section DOCS: ndocs entries (id, text_len, meta_len), then the texts and metas; each id has a vector.
void Index::load_documents(const IndexFileReader& r, size_t ndocs) {
  ByteCursor c(r, SectionType::docs, r.get(SectionType::docs));
  const uint64_t n = c.u64("count");
  if (n != ndocs) c.fail("count: " + std::to_string(n) + ", but META.docs is " + std::to_string(ndocs));
  if (n > c.remaining() / 24) c.fail("count: " + std::to_string(n) + " entries cannot fit in the section");
  struct E { int64_t id; uint64_t tl, ml; };
  std::vector<E> es(n);
  uint64_t total = 0;
  for (uint64_t i = 0; i < n; ++i) {
    es[i].id = c.i64("entry id");
    es[i].tl = c.u64("entry text_len");
    es[i].ml = c.u64("entry meta_len");
    total = checked_add(checked_add(total, es[i].tl, "DOCS text_len"), es[i].ml, "DOCS meta_len");
  }
  if (total != c.remaining())
    c.fail("text and meta lengths add up to " + std::to_string(total) + " bytes but " +
           std::to_string(c.remaining()) + " remain");
  docs_.reserve(n);
  for (const E& e : es) {
    Document d;
    d.text.assign((const char*)c.bytes(e.tl, "text"), e.tl);
    d.meta.assign((const char*)c.bytes(e.ml, "meta"), e.ml);
    if (!d.meta.empty()) {
      const StrictJson j = json_parse_strict(d.meta);
      if (!j.duplicate_key.empty()) c.fail("meta of doc " + std::to_string(e.id) + " " + j.problem());
      if (!j.ok() || !j.value.is_object()) c.fail("meta of doc " + std::to_string(e.id) + ": not a JSON object");
    }
    if (!vec_ || !vec_->contains(e.id)) c.fail("doc " + std::to_string(e.id) + ": has no vector (section VEC_IDS)");
    if (!docs_.emplace(e.id, std::move(d)).second) c.fail("doc " + std::to_string(e.id) + ": listed twice");
  }
  c.expect_end();
}

// Section BM25, present exactly when META.bm25 says so, over exactly the documents.
void Index::load_bm25(const IndexFileReader& r, const nlohmann::json& meta) {
  const bool has_bm25 = meta_bool(r, meta, "bm25");
  if (has_bm25 != r.has(SectionType::bm25))
    r.fail(std::string("META.bm25: says ") + (has_bm25 ? "true" : "false") + " but section BM25 is " +
           (r.has(SectionType::bm25) ? "present" : "missing"));
  if (!has_bm25) return;
  bm25_.emplace(Bm25Index::read_from(r));
  opts_.bm25 = true;
  opts_.bm25_params = bm25_->params();
  if (bm25_->size() != docs_.size())
    r.fail("section BM25: indexes " + std::to_string(bm25_->size()) + " documents, DOCS has " +
           std::to_string(docs_.size()));
  for (auto& [id, d] : docs_)
    if (!bm25_->contains(id)) r.fail("section BM25: doc " + std::to_string(id) + " is missing");
}

}  // namespace bertrank::retrieval
