// bertrank.hpp — a thin header-only C++ wrapper over the C API (bertrank.h).
//
//   bertrank::Model enc("weights/all-MiniLM-L6-v2.brm");
//   std::vector<float> e = enc.embed({"hello world", "CPU retrieval"});   // 2 × enc.dim()
//   bertrank::Model ce("weights/seeded-cross-encoder.brm");
//   std::vector<float> s = ce.score("query", {"doc a", "doc b"});          // 2 × num_labels
//
// RAII handles (move-only), std::vector results, and bertrank::Error (with the C status) thrown
// on failure — exceptions exist on this side of the boundary only. Needs C++17; with C++20 the
// embed/score overloads also take std::span<const std::string>.
#ifndef BERTRANK_BERTRANK_HPP
#define BERTRANK_BERTRANK_HPP

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
#if __cplusplus >= 202002L
#include <span>
#endif

#include "bertrank/bertrank.h"

namespace bertrank {

class Error : public std::runtime_error {
 public:
  Error(bertrank_status s, const char* msg) : std::runtime_error(msg), status_(s) {}
  bertrank_status status() const noexcept { return status_; }

 private:
  bertrank_status status_;
};

inline void check(bertrank_status s) {
  if (s != BERTRANK_OK) throw Error(s, bertrank_last_error());
}

namespace detail {
template <typename H, void (*Free)(H*)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(H* h) : h_(h) {}
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() {
    if (h_) Free(h_);
    h_ = nullptr;
  }
  H* get() const { return h_; }

 protected:
  H* h_ = nullptr;
};

inline std::vector<const char*> c_strs(const std::string* s, size_t n, std::vector<size_t>* lengths) {
  std::vector<const char*> p(n);
  if (lengths) lengths->resize(n);
  for (size_t i = 0; i < n; ++i) {
    p[i] = s[i].c_str();
    if (lengths) (*lengths)[i] = s[i].size();
  }
  return p;
}
}  // namespace detail

struct Encoding {
  std::vector<int32_t> ids, type_ids, offsets;  // offsets: start, end per token
};

class Tokenizer : public detail::Handle<bertrank_tokenizer, bertrank_tokenizer_free> {
 public:
  Tokenizer() = default;
  explicit Tokenizer(bertrank_tokenizer* t) : Handle(t) {}
  // A .brm file, a vocab.txt, or a Hugging Face model folder.
  explicit Tokenizer(const std::string& path) { check(bertrank_tokenizer_load(path.c_str(), &h_)); }

  Encoding encode(const std::string& text, int max_length = 0) const { return run(text, nullptr, max_length); }
  Encoding encode_pair(const std::string& a, const std::string& b, int max_length = 0) const {
    return run(a, &b, max_length);
  }

 private:
  Encoding run(const std::string& a, const std::string* b, int max_length) const {
    Encoding e;
    size_t n = 0, cap = 64;
    for (;;) {
      e.ids.resize(cap);
      e.type_ids.resize(cap);
      e.offsets.resize(2 * cap);
      const bertrank_status s =
          bertrank_tokenize(h_, a.data(), a.size(), b ? b->data() : nullptr, b ? b->size() : 0, max_length,
                            e.ids.data(), e.type_ids.data(), e.offsets.data(), cap, &n);
      if (s == BERTRANK_ERR_BUFFER_TOO_SMALL && n > cap) {
        cap = n;
        continue;
      }
      check(s);
      break;
    }
    e.ids.resize(n);
    e.type_ids.resize(n);
    e.offsets.resize(2 * n);
    return e;
  }
};

class Model : public detail::Handle<bertrank_model, bertrank_model_free> {
 public:
  Model() = default;
  explicit Model(const std::string& path, const bertrank_model_params& p = bertrank_model_default_params()) {
    check(bertrank_model_load(path.c_str(), &p, &h_));
  }

  bertrank_model_info info() const {
    bertrank_model_info i;
    check(bertrank_model_get_info(h_, &i));
    return i;
  }
  int dim() const { return info().dim; }
  Tokenizer tokenizer() const {
    bertrank_tokenizer* t = nullptr;
    check(bertrank_model_tokenizer(h_, &t));
    return Tokenizer(t);
  }

  // Row-major n × dim.
  std::vector<float> embed(const std::vector<std::string>& texts,
                           const bertrank_embed_params& p = bertrank_embed_default_params()) const {
    return embed(texts.data(), texts.size(), p);
  }
  std::vector<float> embed(const std::string* texts, size_t n,
                           const bertrank_embed_params& p = bertrank_embed_default_params()) const {
    std::vector<size_t> len;
    const std::vector<const char*> t = detail::c_strs(texts, n, &len);
    std::vector<float> out(n * size_t(dim()));
    check(bertrank_embed(h_, t.data(), len.data(), n, &p, out.data(), out.size(), nullptr));
    return out;
  }

  // n × num_labels (n with windows) scores of (query, docs[i]).
  std::vector<float> score(const std::string& query, const std::vector<std::string>& docs,
                           const bertrank_score_params& p = bertrank_score_default_params()) const {
    return score(query, docs.data(), docs.size(), p);
  }
  std::vector<float> score(const std::string& query, const std::string* docs, size_t n,
                           const bertrank_score_params& p = bertrank_score_default_params()) const {
    std::vector<size_t> len;
    const std::vector<const char*> d = detail::c_strs(docs, n, &len);
    const bertrank_model_info i = info();
    const size_t width = p.window_length > 0 || i.num_labels < 1 ? 1 : size_t(i.num_labels);
    std::vector<float> out(n * width);
    check(bertrank_score(h_, query.data(), query.size(), d.data(), len.data(), n, &p, out.data(), out.size()));
    return out;
  }

#if __cplusplus >= 202002L
  std::vector<float> embed(std::span<const std::string> texts,
                           const bertrank_embed_params& p = bertrank_embed_default_params()) const {
    return embed(texts.data(), texts.size(), p);
  }
  std::vector<float> score(const std::string& query, std::span<const std::string> docs,
                           const bertrank_score_params& p = bertrank_score_default_params()) const {
    return score(query, docs.data(), docs.size(), p);
  }
#endif
};

struct Hit {
  int64_t id;
  float score, first_stage_score;
  bool reranked;
};

class Index : public detail::Handle<bertrank_index, bertrank_index_free> {
 public:
  Index() = default;
  Index(const Model& encoder, const bertrank_index_params& p = bertrank_index_default_params()) {
    check(bertrank_index_create(encoder.get(), &p, &h_));
  }
  static Index load(const std::string& path, bool mmap = false) {
    Index x;
    check(bertrank_index_load(path.c_str(), mmap ? 1 : 0, &x.h_));
    return x;
  }
  void save(const std::string& path) const { check(bertrank_index_save(h_, path.c_str())); }
  size_t size() const { return bertrank_index_size(h_); }
  bertrank_index_info info() const {
    bertrank_index_info i;
    check(bertrank_index_get_info(h_, &i));
    return i;
  }

  void add(const Model& encoder, const std::vector<int64_t>& ids, const std::vector<std::string>& texts,
           const bertrank_embed_params& p = bertrank_embed_default_params()) {
    if (ids.size() != texts.size()) throw Error(BERTRANK_ERR_INVALID_ARGUMENT, "Index::add: ids and texts differ in size");
    std::vector<size_t> len;
    const std::vector<const char*> t = detail::c_strs(texts.data(), texts.size(), &len);
    check(bertrank_index_add_texts(h_, encoder.get(), ids.data(), t.data(), len.data(), nullptr, ids.size(), &p));
  }
  std::string text(int64_t id) const {
    const char* t = nullptr;
    size_t n = 0;
    check(bertrank_index_document(h_, id, &t, &n, nullptr));
    return std::string(t, n);
  }

  // Best first, at most p.k hits per query. reranker may be null when p.candidates == 0.
  std::vector<std::vector<Hit>> search(const std::vector<std::string>& queries, const Model* encoder,
                                       const Model* reranker,
                                       const bertrank_search_params& p = bertrank_search_default_params(),
                                       bertrank_timings* timings = nullptr) const {
    std::vector<size_t> len;
    const std::vector<const char*> q = detail::c_strs(queries.data(), queries.size(), &len);
    const bertrank_search_params sp = capped(p);
    std::vector<bertrank_hit> raw(queries.size() * sp.k);
    check(bertrank_search(h_, encoder ? encoder->get() : nullptr, reranker ? reranker->get() : nullptr, q.data(),
                          len.data(), q.size(), &sp, raw.data(), raw.size(), timings));
    return unpack(raw.data(), queries.size(), sp.k);
  }

  // Several searches of the same queries in one call (bertrank_search_runs: shared work done
  // once); [run][query], each as search() with runs[r] returns it.
  std::vector<std::vector<std::vector<Hit>>> search_runs(const std::vector<std::string>& queries, const Model* encoder,
                                                         const Model* reranker,
                                                         const std::vector<bertrank_search_params>& runs,
                                                         bertrank_timings* timings = nullptr) const {
    std::vector<size_t> len;
    const std::vector<const char*> q = detail::c_strs(queries.data(), queries.size(), &len);
    std::vector<bertrank_search_params> sp;
    size_t total = 0;
    for (const bertrank_search_params& p : runs) {
      sp.push_back(capped(p));
      total += queries.size() * sp.back().k;
    }
    std::vector<bertrank_hit> raw(total);
    check(bertrank_search_runs(h_, encoder ? encoder->get() : nullptr, reranker ? reranker->get() : nullptr, q.data(),
                               len.data(), q.size(), sp.data(), sp.size(), raw.data(), raw.size(), timings));
    std::vector<std::vector<std::vector<Hit>>> out;
    const bertrank_hit* at = raw.data();
    for (const bertrank_search_params& p : sp) {
      out.push_back(unpack(at, queries.size(), p.k));
      at += queries.size() * p.k;
    }
    return out;
  }

 private:
  // No query has more hits than the index has documents: size the buffer by that, not by k.
  bertrank_search_params capped(bertrank_search_params p) const {
    if (p.k > 0 && p.k > size()) p.k = size() > 0 ? size() : 1;
    return p;
  }
  static std::vector<std::vector<Hit>> unpack(const bertrank_hit* raw, size_t nq, size_t k) {
    std::vector<std::vector<Hit>> out(nq);
    for (size_t i = 0; i < nq; ++i)
      for (size_t j = 0; j < k && raw[i * k + j].id >= 0; ++j) {
        const bertrank_hit& h = raw[i * k + j];
        out[i].push_back({h.id, h.score, h.first_stage_score, h.reranked != 0});
      }
    return out;
  }
};

}  // namespace bertrank

#endif  // BERTRANK_BERTRANK_HPP
