// bertrank_c.cpp — the C API (include/bertrank/bertrank.h) over model/ and retrieval/.
//
// Every entry point is a `guard(...)` around C++ code: exceptions become status codes and a
// per-thread message, never cross the boundary. Handles are registered in a process-wide set
// of live handles with their type, so a NULL, stale (freed) or mistyped handle is reported
// instead of dereferenced. A call pins the handles it uses (a reference count taken under the
// registry's lock) for its whole duration; a *_free() that races it unregisters the handle at
// once (later calls get BERTRANK_ERR_INVALID_HANDLE) and the last pin deletes it.
#include "bertrank/bertrank.h"

#include <omp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/checked_size.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "model/convert.h"
#include "model/cross_encoder.h"
#include "model/model.h"
#include "retrieval/index.h"
#include "api/pipeline.h"
#include "tokenizer/load.h"

using namespace bertrank;

struct bertrank_model {
  std::shared_ptr<const model::Model> model;
  std::unique_ptr<model::BiEncoder> bi;        // set for an embedding head
  std::unique_ptr<model::CrossEncoder> cross;  // set for a classifier head
  std::string name, fingerprint, path;
};

struct bertrank_tokenizer {
  std::shared_ptr<const tokenizer::Tokenizer> tok;
};

struct bertrank_index {
  std::optional<retrieval::Index> idx;
};

namespace {

// ---- errors ---------------------------------------------------------------------------------

thread_local std::string t_last_error;

// An error with its status, thrown inside the API and turned into (status, message).
struct ApiError : std::runtime_error {
  bertrank_status status;
  ApiError(bertrank_status s, const std::string& m) : std::runtime_error(m), status(s) {}
};

[[noreturn]] void fail(bertrank_status s, const std::string& m) { throw ApiError(s, m); }

bertrank_status set_error(bertrank_status s, const std::string& m) {
  try {
    t_last_error = m;
  } catch (...) {
    // Out of memory while storing the message: keep the status.
  }
  return s;
}

template <typename F>
bertrank_status guard(const char* fn, F&& f) noexcept {
  try {
    f();
    return BERTRANK_OK;
  } catch (const ApiError& e) {
    return set_error(e.status, std::string(fn) + ": " + e.what());
  } catch (const retrieval::ModelMismatchError& e) {
    return set_error(BERTRANK_ERR_WRONG_MODEL, std::string(fn) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return set_error(BERTRANK_ERR_OUT_OF_MEMORY, std::string(fn) + ": out of memory");
  } catch (const std::invalid_argument& e) {
    return set_error(BERTRANK_ERR_INVALID_ARGUMENT, std::string(fn) + ": " + e.what());
  } catch (const std::length_error& e) {
    return set_error(BERTRANK_ERR_INVALID_ARGUMENT, std::string(fn) + ": " + e.what());
  } catch (const std::logic_error& e) {
    return set_error(BERTRANK_ERR_INVALID_ARGUMENT, std::string(fn) + ": " + e.what());
  } catch (const std::exception& e) {
    return set_error(BERTRANK_ERR_INTERNAL, std::string(fn) + ": " + e.what());
  } catch (...) {
    return set_error(BERTRANK_ERR_INTERNAL, std::string(fn) + ": unknown error");
  }
}

// ---- live handles -----------------------------------------------------------------------------

enum class Kind { model, tokenizer, index };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::model: return "bertrank_model";
    case Kind::tokenizer: return "bertrank_tokenizer";
    case Kind::index: return "bertrank_index";
  }
  return "handle";
}

// A registered handle: its kind, how many calls are using it now, and whether *_free() was
// called while they were (the last of them deletes it).
struct Entry {
  Kind kind;
  int pins = 0;
  bool freed = false;
  void (*destroy)(void*) = nullptr;
};

struct Registry {
  std::mutex mu;
  std::unordered_map<const void*, Entry> live;
};
Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: handles may be freed during exit
  return *r;
}

template <typename T>
void destroy_as(void* p) {
  delete static_cast<T*>(p);
}

template <typename T>
void register_handle(T* p, Kind k) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.live[p] = Entry{k, 0, false, &destroy_as<T>};
}

// Holds a handle for the duration of one call: the handle cannot be deleted while pinned.
// Throws unless p is a live handle of kind k.
template <typename T>
class Pin {
 public:
  Pin(T* p, Kind k, const char* what) : p_(p) {
    if (!p) fail(BERTRANK_ERR_INVALID_HANDLE, std::string(what) + " is NULL");
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.live.find(p);
    if (it == r.live.end() || it->second.freed)
      fail(BERTRANK_ERR_INVALID_HANDLE, std::string(what) + " is not a live " + kind_name(k) +
                                            " (already freed, or never returned by bertrank)");
    if (it->second.kind != k)
      fail(BERTRANK_ERR_INVALID_HANDLE,
           std::string(what) + " is a " + kind_name(it->second.kind) + ", not a " + kind_name(k));
    ++it->second.pins;
  }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;
  ~Pin() {
    void (*destroy)(void*) = nullptr;
    {
      Registry& r = registry();
      std::lock_guard<std::mutex> lock(r.mu);
      auto it = r.live.find(p_);
      if (it != r.live.end() && --it->second.pins == 0 && it->second.freed) {
        destroy = it->second.destroy;
        r.live.erase(it);
      }
    }
    if (destroy) destroy(const_cast<void*>(static_cast<const void*>(p_)));
  }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  T* get() const { return p_; }

 private:
  T* p_;
};

// Unregisters p (a live handle of kind k) and deletes it now, or when the last call that has
// it pinned returns. Reports a pointer that is not a live handle of kind k and ignores it.
void free_handle(const void* p, Kind k, const char* fn) noexcept {
  if (!p) return;
  void (*destroy)(void*) = nullptr;
  bool known = false;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.live.find(p);
    if (it != r.live.end() && it->second.kind == k && !it->second.freed) {
      known = true;
      if (it->second.pins == 0) {
        destroy = it->second.destroy;
        r.live.erase(it);
      } else {
        it->second.freed = true;
      }
    }
  }
  if (!known) {
    set_error(BERTRANK_ERR_INVALID_HANDLE,
              std::string(fn) + ": not a live " + kind_name(k) + " (freed twice, or never returned by bertrank); ignored");
    return;
  }
  if (destroy) destroy(const_cast<void*>(p));
}

// ---- argument helpers -------------------------------------------------------------------------

void need(const void* p, const char* what) {
  if (!p) fail(BERTRANK_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
}

size_t checked_mul(size_t a, size_t b, const char* what) {
  size_t r;
  if (mul_overflows(a, b, &r)) fail(BERTRANK_ERR_INVALID_ARGUMENT, std::string(what) + " overflows size_t");
  return r;
}

void need_capacity(size_t have, size_t want, const char* what) {
  if (have < want)
    fail(BERTRANK_ERR_BUFFER_TOO_SMALL, std::string(what) + " holds " + std::to_string(have) +
                                            " elements; " + std::to_string(want) + " needed");
}

// One text: `len` bytes of p, or up to its NUL with BERTRANK_NUL_TERMINATED.
std::string text_of(const char* p, size_t len, const char* what) {
  need(p, what);
  return len == BERTRANK_NUL_TERMINATED ? std::string(p) : std::string(p, len);
}

// n texts; lengths NULL: each NUL-terminated; else lengths[i] bytes (BERTRANK_NUL_TERMINATED
// allowed per entry). Embedded NULs are kept.
std::vector<std::string> to_strings(const char* const* texts, const size_t* lengths, size_t n, const char* what) {
  if (n > 0) need(texts, what);
  std::vector<std::string> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!texts[i]) fail(BERTRANK_ERR_INVALID_ARGUMENT, std::string(what) + "[" + std::to_string(i) + "] is NULL");
    if (lengths && lengths[i] != BERTRANK_NUL_TERMINATED) v.emplace_back(texts[i], lengths[i]);
    else v.emplace_back(texts[i]);
  }
  return v;
}

// The integer a C caller stored in an enum field. A C program may store any int there; in C++
// loading an enum object whose value is outside the enumeration's range is undefined, so the
// field's bytes are read as an int (the C enums here are int-sized) and compared as numbers.
template <typename E>
int enum_value(const E& e) {
  static_assert(sizeof(E) == sizeof(int), "C enum fields are int-sized");
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// A file that cannot be opened is an I/O error; one that opens but is refused is a bad file.
void check_readable(const char* path, const char* what) {
  need(path, what);
  struct stat st;
  if (::stat(path, &st) != 0)
    fail(BERTRANK_ERR_IO, std::string("cannot open '") + path + "': " + std::strerror(errno));
}

template <typename F>
void as_bad_file(F&& f) {
  try {
    f();
  } catch (const ApiError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::invalid_argument& e) {
    fail(BERTRANK_ERR_UNSUPPORTED, e.what());
  } catch (const std::runtime_error& e) {
    fail(BERTRANK_ERR_BAD_FILE, e.what());
  }
}

using kernels::ThreadScope;  // num_threads of one call, capped at the CPUs (kernels/parallel.h)

model::EmbedOptions embed_options(const bertrank_embed_params& p) {
  if (p.max_length < 0) fail(BERTRANK_ERR_INVALID_ARGUMENT, "max_length must be >= 0");
  if (p.num_threads < 0) fail(BERTRANK_ERR_INVALID_ARGUMENT, "num_threads must be >= 0");
  if (p.max_batch_tokens <= 0) fail(BERTRANK_ERR_INVALID_ARGUMENT, "max_batch_tokens must be > 0");
  if (p.normalize < -1 || p.normalize > 1) fail(BERTRANK_ERR_INVALID_ARGUMENT, "normalize must be -1, 0 or 1");
  model::EmbedOptions o;
  o.normalize = p.normalize;
  o.max_length = p.max_length;
  o.num_threads = p.num_threads;
  o.max_batch_tokens = p.max_batch_tokens;
  return o;
}

model::ScoreOptions score_options(const bertrank_score_params& p) {
  if (p.max_length < 0 || p.window_length < 0 || p.window_stride < 0)
    fail(BERTRANK_ERR_INVALID_ARGUMENT, "max_length, window_length and window_stride must be >= 0");
  if (p.num_threads < 0) fail(BERTRANK_ERR_INVALID_ARGUMENT, "num_threads must be >= 0");
  if (p.max_batch_tokens <= 0) fail(BERTRANK_ERR_INVALID_ARGUMENT, "max_batch_tokens must be > 0");
  model::ScoreOptions o;
  o.max_length = p.max_length;
  o.window_length = p.window_length;
  o.window_stride = p.window_stride;
  o.num_threads = p.num_threads;
  o.max_batch_tokens = p.max_batch_tokens;
  switch (enum_value(p.activation)) {
    case BERTRANK_ACTIVATION_NONE: o.activation = model::ScoreActivation::score_none; break;
    case BERTRANK_ACTIVATION_SIGMOID: o.activation = model::ScoreActivation::score_sigmoid; break;
    case BERTRANK_ACTIVATION_SOFTMAX: o.activation = model::ScoreActivation::score_softmax; break;
    default: fail(BERTRANK_ERR_INVALID_ARGUMENT, "unknown activation " + std::to_string(enum_value(p.activation)));
  }
  return o;
}

using ModelPin = Pin<const bertrank_model>;
using IndexPin = Pin<bertrank_index>;
using ConstIndexPin = Pin<const bertrank_index>;

const model::BiEncoder& bi_encoder(const ModelPin& m, const char* what) {
  if (!m->bi)
    fail(BERTRANK_ERR_WRONG_MODEL, std::string(what) + " ('" + m->name +
                                       "') is a cross-encoder; this call needs an embedding model");
  return *m->bi;
}

const model::CrossEncoder& cross_encoder(const ModelPin& m, const char* what) {
  if (!m->cross)
    fail(BERTRANK_ERR_WRONG_MODEL, std::string(what) + " ('" + m->name +
                                       "') is an embedding model; this call needs a cross-encoder");
  return *m->cross;
}

size_t score_width(const model::CrossEncoder& ce, const bertrank_score_params& p) {
  return p.window_length > 0 ? 1 : size_t(ce.num_labels());
}


// n optional texts: v NULL, or v[i] NULL, is "". lengths as for to_strings.
std::vector<std::string> optional_strings(const char* const* v, const size_t* lengths, size_t n) {
  std::vector<std::string> out(n);
  if (v)
    for (size_t i = 0; i < n; ++i)
      if (v[i]) {
        if (lengths && lengths[i] != BERTRANK_NUL_TERMINATED) out[i].assign(v[i], lengths[i]);
        else out[i] = v[i];
      }
  return out;
}

}  // namespace

// ---- status, library ----------------------------------------------------------------------------

extern "C" {

const char* bertrank_last_error(void) { return t_last_error.c_str(); }

const char* bertrank_status_string(bertrank_status s) {
  switch (s) {
    case BERTRANK_OK: return "ok";
    case BERTRANK_ERR_INVALID_ARGUMENT: return "invalid argument";
    case BERTRANK_ERR_INVALID_HANDLE: return "invalid handle";
    case BERTRANK_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case BERTRANK_ERR_IO: return "i/o error";
    case BERTRANK_ERR_BAD_FILE: return "bad file";
    case BERTRANK_ERR_WRONG_MODEL: return "wrong model";
    case BERTRANK_ERR_UNSUPPORTED: return "unsupported";
    case BERTRANK_ERR_OUT_OF_MEMORY: return "out of memory";
    case BERTRANK_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* bertrank_version(void) { return BERTRANK_VERSION_STRING; }
int bertrank_version_number(void) {
  return BERTRANK_VERSION_MAJOR * 10000 + BERTRANK_VERSION_MINOR * 100 + BERTRANK_VERSION_PATCH;
}

const char* bertrank_isa(void) {
  try {
    return kernels::isa_name(kernels::active().isa);
  } catch (const std::exception& e) {
    set_error(BERTRANK_ERR_UNSUPPORTED, std::string("bertrank_isa: ") + e.what());
    return "none";
  }
}

int bertrank_isa_available(const char* isa) {
  if (!isa) return 0;
  for (kernels::Isa i : kernels::kAllIsas)
    if (std::strcmp(isa, kernels::isa_name(i)) == 0) return kernels::cpu_supports(i) && kernels::kernels_for(i) ? 1 : 0;
  return 0;
}

int bertrank_max_threads(void) { return kernels::cpu_count(); }

// ---- models -------------------------------------------------------------------------------------

bertrank_model_params bertrank_model_default_params(void) {
  bertrank_model_params p;
  std::memset(&p, 0, sizeof p);
  p.precision = BERTRANK_PRECISION_FP32;
  return p;
}

bertrank_status bertrank_model_load(const char* path, const bertrank_model_params* params, bertrank_model** out) {
  return guard("bertrank_model_load", [&] {
    need(out, "out_model");
    *out = nullptr;
    check_readable(path, "path");
    const bertrank_model_params p = params ? *params : bertrank_model_default_params();
    model::LoadOptions lo;
    switch (enum_value(p.precision)) {
      case BERTRANK_PRECISION_FP32: lo.precision = model::Precision::fp32; break;
      case BERTRANK_PRECISION_INT8: lo.precision = model::Precision::int8; break;
      case BERTRANK_PRECISION_BF16: lo.precision = model::Precision::bf16; break;
      default: fail(BERTRANK_ERR_INVALID_ARGUMENT, "unknown precision " + std::to_string(enum_value(p.precision)));
    }
    auto h = std::make_unique<bertrank_model>();
    as_bad_file([&] {
      h->model = model::Model::load(path, lo);
      if (h->model->head().type == model::HeadType::embedding)
        h->bi = std::make_unique<model::BiEncoder>(h->model);
      else
        h->cross = std::make_unique<model::CrossEncoder>(h->model);
    });
    h->name = h->model->name();
    h->fingerprint = h->model->fingerprint();
    std::error_code ec;
    auto abs = std::filesystem::absolute(path, ec);
    h->path = ec ? std::string(path) : abs.lexically_normal().string();
    register_handle(h.get(), Kind::model);
    *out = h.release();
  });
}

void bertrank_model_free(bertrank_model* m) { free_handle(m, Kind::model, "bertrank_model_free"); }

bertrank_status bertrank_model_get_info(const bertrank_model* m, bertrank_model_info* info) {
  return guard("bertrank_model_get_info", [&] {
    const ModelPin pm(m, Kind::model, "model");
    need(info, "out_info");
    const auto& cfg = m->model->config();
    bertrank_model_info i;
    std::memset(&i, 0, sizeof i);
    i.kind = m->bi ? BERTRANK_MODEL_EMBEDDING : BERTRANK_MODEL_CROSS_ENCODER;
    i.dim = cfg.hidden_size;
    i.num_labels = m->cross ? m->cross->num_labels() : 0;
    i.max_length = m->model->head().max_seq_length;
    i.num_layers = cfg.num_hidden_layers;
    i.vocab_size = cfg.vocab_size;
    switch (m->model->precision()) {
      case model::Precision::fp32: i.precision = BERTRANK_PRECISION_FP32; break;
      case model::Precision::int8: i.precision = BERTRANK_PRECISION_INT8; break;
      case model::Precision::bf16: i.precision = BERTRANK_PRECISION_BF16; break;
    }
    i.name = m->name.c_str();
    i.fingerprint = m->fingerprint.c_str();
    i.path = m->path.c_str();
    *info = i;
  });
}

bertrank_status bertrank_convert(const char* hf_dir, const char* out_path, const char* name) {
  return guard("bertrank_convert", [&] {
    check_readable(hf_dir, "hf_dir");
    need(out_path, "out_path");
    model::ConvertOptions o;
    if (name) o.name = name;
    as_bad_file([&] { model::convert_hf_dir(hf_dir, out_path, o); });
  });
}

// ---- embedding, scoring --------------------------------------------------------------------------

bertrank_embed_params bertrank_embed_default_params(void) {
  bertrank_embed_params p;
  std::memset(&p, 0, sizeof p);
  p.max_batch_tokens = model::EmbedOptions{}.max_batch_tokens;
  p.normalize = -1;
  return p;
}

bertrank_status bertrank_embed(const bertrank_model* m, const char* const* texts, const size_t* lengths, size_t n,
                               const bertrank_embed_params* params, float* out, size_t out_len,
                               uint8_t* out_truncated) {
  return guard("bertrank_embed", [&] {
    const ModelPin pm(m, Kind::model, "model");
    const model::BiEncoder& bi = bi_encoder(pm, "model");
    const model::EmbedOptions eo = embed_options(params ? *params : bertrank_embed_default_params());
    const size_t want = checked_mul(n, size_t(bi.dim()), "n * dim");
    if (n > 0) need(out, "out");
    need_capacity(out_len, want, "out");
    std::vector<std::string> v = to_strings(texts, lengths, n, "texts");
    if (n == 0) return;
    model::EmbedInfo info;
    bi.embed(v, out, out_truncated ? &info : nullptr, eo);
    if (out_truncated)
      for (size_t i = 0; i < n; ++i) out_truncated[i] = info.truncated[i];
  });
}

bertrank_score_params bertrank_score_default_params(void) {
  bertrank_score_params p;
  std::memset(&p, 0, sizeof p);
  p.activation = BERTRANK_ACTIVATION_NONE;
  p.max_batch_tokens = model::ScoreOptions{}.max_batch_tokens;
  return p;
}

bertrank_status bertrank_score(const bertrank_model* m, const char* query, size_t query_len, const char* const* docs,
                               const size_t* doc_lengths, size_t n, const bertrank_score_params* params, float* out,
                               size_t out_len) {
  return guard("bertrank_score", [&] {
    const ModelPin pm(m, Kind::model, "model");
    const model::CrossEncoder& ce = cross_encoder(pm, "model");
    const bertrank_score_params p = params ? *params : bertrank_score_default_params();
    const model::ScoreOptions so = score_options(p);
    const std::string q = text_of(query, query_len, "query");
    const size_t want = checked_mul(n, score_width(ce, p), "n * num_labels");
    if (n > 0) need(out, "out");
    need_capacity(out_len, want, "out");
    std::vector<std::string> d = to_strings(docs, doc_lengths, n, "docs");
    if (n == 0) return;
    ce.score(q, d, out, nullptr, so);
  });
}

bertrank_status bertrank_score_pairs(const bertrank_model* m, const char* const* a, const size_t* a_lengths,
                                     const char* const* b, const size_t* b_lengths, size_t n,
                                     const bertrank_score_params* params, float* out, size_t out_len) {
  return guard("bertrank_score_pairs", [&] {
    const ModelPin pm(m, Kind::model, "model");
    const model::CrossEncoder& ce = cross_encoder(pm, "model");
    const bertrank_score_params p = params ? *params : bertrank_score_default_params();
    const model::ScoreOptions so = score_options(p);
    const size_t want = checked_mul(n, score_width(ce, p), "n * num_labels");
    if (n > 0) need(out, "out");
    need_capacity(out_len, want, "out");
    std::vector<std::string> va = to_strings(a, a_lengths, n, "a"), vb = to_strings(b, b_lengths, n, "b");
    if (n == 0) return;
    std::vector<std::pair<std::string, std::string>> pairs(n);
    for (size_t i = 0; i < n; ++i) pairs[i] = {std::move(va[i]), std::move(vb[i])};
    ce.score_pairs(pairs, out, nullptr, so);
  });
}

// ---- tokenization -----------------------------------------------------------------------------

bertrank_status bertrank_tokenizer_load(const char* path, bertrank_tokenizer** out) {
  return guard("bertrank_tokenizer_load", [&] {
    need(out, "out_tokenizer");
    *out = nullptr;
    check_readable(path, "path");
    const std::string p(path);
    auto h = std::make_unique<bertrank_tokenizer>();
    as_bad_file([&] {
      const bool brm = p.size() > 4 && p.compare(p.size() - 4, 4, ".brm") == 0;
      h->tok = brm ? model::load_model_tokenizer(p) : tokenizer::load_tokenizer(p);
    });
    register_handle(h.get(), Kind::tokenizer);
    *out = h.release();
  });
}

bertrank_status bertrank_model_tokenizer(const bertrank_model* m, bertrank_tokenizer** out) {
  return guard("bertrank_model_tokenizer", [&] {
    need(out, "out_tokenizer");
    *out = nullptr;
    const ModelPin pm(m, Kind::model, "model");
    auto h = std::make_unique<bertrank_tokenizer>();
    // Shares ownership of the model: the tokenizer handle may outlive the model handle.
    h->tok = std::shared_ptr<const tokenizer::Tokenizer>(pm->model, &pm->model->tokenizer());
    register_handle(h.get(), Kind::tokenizer);
    *out = h.release();
  });
}

void bertrank_tokenizer_free(bertrank_tokenizer* t) { free_handle(t, Kind::tokenizer, "bertrank_tokenizer_free"); }

bertrank_status bertrank_tokenize(const bertrank_tokenizer* t, const char* text, size_t text_len, const char* text_pair,
                                  size_t pair_len, int max_length, int32_t* ids, int32_t* type_ids, int32_t* offsets,
                                  size_t capacity, size_t* out_len) {
  return guard("bertrank_tokenize", [&] {
    const Pin<const bertrank_tokenizer> pt(t, Kind::tokenizer, "tokenizer");
    const std::string a = text_of(text, text_len, "text");
    need(out_len, "out_len");
    if (max_length < 0) fail(BERTRANK_ERR_INVALID_ARGUMENT, "max_length must be >= 0");
    tokenizer::EncodeOptions eo;
    eo.max_length = max_length;
    const tokenizer::Encoding e = text_pair ? pt->tok->encode_pair(a, text_of(text_pair, pair_len, "text_pair"), eo)
                                            : pt->tok->encode(a, eo);
    *out_len = e.size();
    need_capacity(capacity, e.size(), "ids");
    if (e.size() > 0) need(ids, "ids");
    for (size_t i = 0; i < e.size(); ++i) {
      ids[i] = e.ids[i];
      if (type_ids) type_ids[i] = e.type_ids[i];
      if (offsets) {
        offsets[2 * i] = e.offsets[i].start;
        offsets[2 * i + 1] = e.offsets[i].end;
      }
    }
  });
}

bertrank_status bertrank_tokenizer_id_to_token(const bertrank_tokenizer* t, int32_t id, const char** out_token,
                                               size_t* out_len) {
  return guard("bertrank_tokenizer_id_to_token", [&] {
    const Pin<const bertrank_tokenizer> pt(t, Kind::tokenizer, "tokenizer");
    need(out_token, "out_token");
    if (id < 0 || size_t(id) >= pt->tok->vocab_size())
      fail(BERTRANK_ERR_INVALID_ARGUMENT, "id " + std::to_string(id) + " is outside the vocabulary of " +
                                              std::to_string(pt->tok->vocab_size()) + " tokens");
    const std::string& tok = pt->tok->id_to_token(id);
    *out_token = tok.c_str();
    if (out_len) *out_len = tok.size();
  });
}

// ---- index ----------------------------------------------------------------------------------------

bertrank_index_params bertrank_index_default_params(void) {
  bertrank_index_params p;
  std::memset(&p, 0, sizeof p);
  p.type = BERTRANK_INDEX_FLAT;
  p.storage = BERTRANK_STORAGE_F32;
  const retrieval::IndexOptions d;
  p.rescore = d.rescore ? 1 : 0;
  p.bm25_k1 = d.bm25_params.k1;
  p.bm25_b = d.bm25_params.b;
  p.bm25_stopwords = d.bm25_params.stopwords ? 1 : 0;
  return p;
}

bertrank_status bertrank_index_create(const bertrank_model* m, const bertrank_index_params* params,
                                      bertrank_index** out) {
  return guard("bertrank_index_create", [&] {
    need(out, "out_index");
    *out = nullptr;
    const ModelPin pm(m, Kind::model, "model");
    const model::BiEncoder& bi = bi_encoder(pm, "model");
    const bertrank_index_params p = params ? *params : bertrank_index_default_params();
    retrieval::IndexOptions o;
    switch (enum_value(p.type)) {
      case BERTRANK_INDEX_FLAT: o.kind = retrieval::IndexKind::flat; break;
      case BERTRANK_INDEX_IVF: o.kind = retrieval::IndexKind::ivf; break;
      default: fail(BERTRANK_ERR_INVALID_ARGUMENT, "unknown index type " + std::to_string(enum_value(p.type)));
    }
    switch (enum_value(p.storage)) {
      case BERTRANK_STORAGE_F32: o.storage = retrieval::StorageType::f32; break;
      case BERTRANK_STORAGE_F16: o.storage = retrieval::StorageType::f16; break;
      case BERTRANK_STORAGE_INT8: o.storage = retrieval::StorageType::int8; break;
      default: fail(BERTRANK_ERR_INVALID_ARGUMENT, "unknown storage " + std::to_string(enum_value(p.storage)));
    }
    o.bm25 = p.bm25 != 0;
    o.rescore = p.rescore != 0;
    if (!(p.bm25_k1 >= 0) || !(p.bm25_b >= 0 && p.bm25_b <= 1))
      fail(BERTRANK_ERR_INVALID_ARGUMENT, "bm25_k1 must be >= 0 and bm25_b in [0, 1]");
    o.bm25_params = retrieval::Bm25Params{p.bm25_k1, p.bm25_b, p.bm25_stopwords != 0};
    o.nlist = p.nlist;
    o.nprobe = p.nprobe;
    auto h = std::make_unique<bertrank_index>();
    h->idx.emplace(size_t(bi.dim()), o, pm->fingerprint, pm->path);
    register_handle(h.get(), Kind::index);
    *out = h.release();
  });
}

bertrank_status bertrank_index_load(const char* path, int mmap, bertrank_index** out) {
  return guard("bertrank_index_load", [&] {
    need(out, "out_index");
    *out = nullptr;
    check_readable(path, "path");
    retrieval::LoadOptions lo;
    lo.mmap = mmap != 0;
    auto h = std::make_unique<bertrank_index>();
    as_bad_file([&] { h->idx.emplace(retrieval::Index::load(path, lo)); });
    register_handle(h.get(), Kind::index);
    *out = h.release();
  });
}

bertrank_status bertrank_index_save(const bertrank_index* x, const char* path) {
  return guard("bertrank_index_save", [&] {
    const ConstIndexPin px(x, Kind::index, "index");
    const retrieval::Index& idx = *px->idx;
    need(path, "path");
    try {
      idx.save(path);
    } catch (const std::runtime_error& e) {
      fail(BERTRANK_ERR_IO, e.what());
    }
  });
}

void bertrank_index_free(bertrank_index* x) { free_handle(x, Kind::index, "bertrank_index_free"); }

bertrank_status bertrank_index_add_texts(bertrank_index* x, const bertrank_model* m, const int64_t* ids,
                                         const char* const* texts, const size_t* text_lengths,
                                         const char* const* metas, size_t n, const bertrank_embed_params* params) {
  return guard("bertrank_index_add_texts", [&] {
    const IndexPin px(x, Kind::index, "index");
    retrieval::Index& idx = *px->idx;
    const ModelPin pm(m, Kind::model, "model");
    const model::BiEncoder& bi = bi_encoder(pm, "model");
    idx.check_model(pm->fingerprint);
    const model::EmbedOptions eo = embed_options(params ? *params : bertrank_embed_default_params());
    if (n == 0) return;
    need(ids, "ids");
    std::vector<std::string> t = to_strings(texts, text_lengths, n, "texts");
    std::vector<std::string> me = optional_strings(metas, nullptr, n);
    std::vector<float> v(checked_mul(n, size_t(bi.dim()), "n * dim"));
    bi.embed(t, v.data(), nullptr, eo);
    idx.add(n, v.data(), ids, t.data(), me.data());
  });
}

bertrank_status bertrank_index_check_model(const bertrank_index* x, const bertrank_model* m) {
  return guard("bertrank_index_check_model", [&] {
    const ConstIndexPin px(x, Kind::index, "index");
    const ModelPin pm(m, Kind::model, "model");
    bi_encoder(pm, "model");
    px->idx->check_model(pm->fingerprint);
  });
}

bertrank_status bertrank_index_add_vectors(bertrank_index* x, const int64_t* ids, const float* vectors,
                                           const char* const* texts, const size_t* text_lengths,
                                           const char* const* metas, size_t n) {
  return guard("bertrank_index_add_vectors", [&] {
    const IndexPin px(x, Kind::index, "index");
    retrieval::Index& idx = *px->idx;
    if (n == 0) return;
    need(ids, "ids");
    need(vectors, "vectors");
    checked_mul(n, idx.dim(), "n * dim");
    std::vector<std::string> t = optional_strings(texts, text_lengths, n), me = optional_strings(metas, nullptr, n);
    idx.add(n, vectors, ids, t.data(), me.data());
  });
}

bertrank_status bertrank_index_remove(bertrank_index* x, const int64_t* ids, size_t n, size_t* out_removed) {
  return guard("bertrank_index_remove", [&] {
    const IndexPin px(x, Kind::index, "index");
    retrieval::Index& idx = *px->idx;
    if (n > 0) need(ids, "ids");
    const size_t r = n ? idx.remove(n, ids) : 0;
    if (out_removed) *out_removed = r;
  });
}

size_t bertrank_index_size(const bertrank_index* x) {
  size_t n = 0;
  guard("bertrank_index_size", [&] { n = ConstIndexPin(x, Kind::index, "index")->idx->size(); });
  return n;
}

int bertrank_index_dim(const bertrank_index* x) {
  int d = 0;
  guard("bertrank_index_dim", [&] { d = int(ConstIndexPin(x, Kind::index, "index")->idx->dim()); });
  return d;
}

const char* bertrank_index_model_path(const bertrank_index* x) {
  const char* p = nullptr;
  guard("bertrank_index_model_path",
        [&] { p = ConstIndexPin(x, Kind::index, "index")->idx->model_path().c_str(); });
  return p;
}

bertrank_status bertrank_index_set_model_path(bertrank_index* x, const char* path) {
  return guard("bertrank_index_set_model_path", [&] {
    const IndexPin px(x, Kind::index, "index");
    retrieval::Index& idx = *px->idx;
    need(path, "path");
    std::error_code ec;
    auto abs = std::filesystem::absolute(path, ec);
    idx.set_model_path(ec ? std::string(path) : abs.lexically_normal().string());
  });
}

bertrank_status bertrank_index_document(const bertrank_index* x, int64_t id, const char** text, size_t* text_len,
                                        const char** meta) {
  return guard("bertrank_index_document", [&] {
    const ConstIndexPin px(x, Kind::index, "index");
    const retrieval::Document* d = px->idx->doc(id);
    if (!d) fail(BERTRANK_ERR_INVALID_ARGUMENT, "no document with id " + std::to_string(id));
    if (text) *text = d->text.c_str();
    if (text_len) *text_len = d->text.size();
    if (meta) *meta = d->meta.c_str();
  });
}

bertrank_status bertrank_index_ids(const bertrank_index* x, int64_t* out, size_t capacity, size_t* out_n) {
  return guard("bertrank_index_ids", [&] {
    const ConstIndexPin px(x, Kind::index, "index");
    need(out_n, "out_n");
    const retrieval::Index& idx = *px->idx;
    *out_n = idx.size();
    need_capacity(capacity, idx.size(), "out");
    if (idx.size() == 0) return;
    need(out, "out");
    if (!idx.vectors()) fail(BERTRANK_ERR_INTERNAL, "index has documents but no vectors");
    std::vector<int64_t> ids = idx.vectors()->ids();
    std::sort(ids.begin(), ids.end());
    std::copy(ids.begin(), ids.end(), out);
  });
}

bertrank_status bertrank_index_get_info(const bertrank_index* x, bertrank_index_info* info) {
  return guard("bertrank_index_get_info", [&] {
    const ConstIndexPin px(x, Kind::index, "index");
    need(info, "out_info");
    const retrieval::Index& idx = *px->idx;
    const retrieval::IndexOptions& o = idx.options();
    bertrank_index_info i;
    std::memset(&i, 0, sizeof i);
    i.documents = idx.size();
    i.dim = int(idx.dim());
    i.type = o.kind == retrieval::IndexKind::ivf ? BERTRANK_INDEX_IVF : BERTRANK_INDEX_FLAT;
    switch (o.storage) {
      case retrieval::StorageType::f32: i.storage = BERTRANK_STORAGE_F32; break;
      case retrieval::StorageType::f16: i.storage = BERTRANK_STORAGE_F16; break;
      case retrieval::StorageType::int8: i.storage = BERTRANK_STORAGE_INT8; break;
    }
    i.rescore = o.rescore ? 1 : 0;
    if (o.kind == retrieval::IndexKind::ivf) {
      i.nlist = o.nlist;
      i.nprobe = o.nprobe;
    }
    if (const retrieval::Bm25Index* b = idx.bm25()) {
      i.bm25 = 1;
      i.bm25_k1 = b->params().k1;
      i.bm25_b = b->params().b;
      i.bm25_stopwords = b->params().stopwords ? 1 : 0;
      i.bm25_vocabulary = b->vocabulary_size();
    }
    i.model_fingerprint = idx.model_fingerprint().c_str();
    i.model_path = idx.model_path().c_str();
    *info = i;
  });
}

// ---- search / pipeline ---------------------------------------------------------------------------

bertrank_search_params bertrank_search_default_params(void) {
  bertrank_search_params p;
  std::memset(&p, 0, sizeof p);
  p.mode = BERTRANK_SEARCH_DENSE;
  p.k = 10;
  p.rerank = bertrank_score_default_params();
  return p;
}

}  // extern "C"

namespace {

// bertrank_search (one run) and bertrank_search_runs: run r's hits at out + nq * (k_0 + ... +
// k_{r-1}). name_runs: errors say which run ("runs[2]: ").
void search_runs(const bertrank_index* x, const bertrank_model* encoder, const bertrank_model* reranker,
                 const char* const* queries, const size_t* query_lengths, size_t nq, const bertrank_search_params* runs,
                 size_t n_runs, bool name_runs, bertrank_hit* out, size_t out_len, bertrank_timings* timings) {
  const ConstIndexPin px(x, Kind::index, "index");
  const retrieval::Index& idx = *px->idx;
  if (n_runs > 0) need(runs, "runs");
  auto at = [&](size_t r) { return name_runs ? "runs[" + std::to_string(r) + "]: " : std::string(); };
  std::vector<retrieval::PipelineOptions> opts(n_runs);
  bool dense = false, lexical = false, rerank = false;
  size_t want = 0;
  for (size_t r = 0; r < n_runs; ++r) {
    const bertrank_search_params& p = runs[r];
    retrieval::PipelineOptions& o = opts[r];
    switch (enum_value(p.mode)) {
      case BERTRANK_SEARCH_DENSE: o.mode = retrieval::FirstStage::dense; break;
      case BERTRANK_SEARCH_BM25: o.mode = retrieval::FirstStage::bm25; break;
      case BERTRANK_SEARCH_HYBRID: o.mode = retrieval::FirstStage::hybrid; break;
      default: fail(BERTRANK_ERR_INVALID_ARGUMENT, at(r) + "unknown search mode " + std::to_string(enum_value(p.mode)));
    }
    if (p.k == 0) fail(BERTRANK_ERR_INVALID_ARGUMENT, at(r) + "k must be > 0");
    o.k = p.k;
    o.candidates = p.candidates;
    o.search.nprobe = p.nprobe;
    o.search.rescore_factor = p.rescore_factor;
    try {
      o.rerank = score_options(p.rerank);
    } catch (const ApiError& e) {
      fail(e.status, at(r) + e.what());
    }
    dense |= o.mode != retrieval::FirstStage::bm25;
    lexical |= o.mode != retrieval::FirstStage::dense;
    rerank |= p.candidates > 0;
    const size_t run_hits = checked_mul(nq, p.k, "nq * k");
    if (run_hits > std::numeric_limits<size_t>::max() - want)
      fail(BERTRANK_ERR_INVALID_ARGUMENT, "nq * (sum of k) overflows size_t");
    want += run_hits;
  }
  const model::BiEncoder* bi = nullptr;
  std::optional<ModelPin> pe, pr;
  if (dense) {
    pe.emplace(encoder, Kind::model, "encoder");
    bi = &bi_encoder(*pe, "encoder");
    idx.check_model((*pe)->fingerprint);
  } else if (encoder) {
    pe.emplace(encoder, Kind::model, "encoder");
  }
  if (lexical && !idx.bm25()) fail(BERTRANK_ERR_INVALID_ARGUMENT, "the index has no BM25 part (build it with bm25 = 1)");
  const model::CrossEncoder* ce = nullptr;
  if (rerank || reranker) pr.emplace(reranker, Kind::model, "reranker");
  if (rerank) ce = &cross_encoder(*pr, "reranker");
  if (nq > 0 && want > 0) need(out, "out");
  need_capacity(out_len, want, "out");
  std::vector<std::string> q = to_strings(queries, query_lengths, nq, "queries");
  ThreadScope ts(n_runs > 0 ? runs[0].num_threads : 0);
  retrieval::PipelineTimings t;
  const auto res = retrieval::run_pipelines(idx, bi, ce, q, opts, &t);
  bertrank_hit* o = out;
  for (size_t r = 0; r < n_runs; ++r)
    for (size_t i = 0; i < nq; ++i)
      for (size_t j = 0; j < runs[r].k; ++j, ++o) {
        const std::vector<retrieval::PipelineHit>& hits = res[r][i];
        if (j < hits.size()) {
          o->id = hits[j].id;
          o->score = hits[j].score;
          o->first_stage_score = hits[j].first_stage_score;
          o->reranked = hits[j].reranked ? 1 : 0;
        } else {
          o->id = -1;
          o->score = o->first_stage_score = -std::numeric_limits<float>::infinity();
          o->reranked = 0;
        }
      }
  if (timings) {
    timings->embed_seconds = t.embed_seconds;
    timings->search_seconds = t.search_seconds;
    timings->rerank_seconds = t.rerank_seconds;
  }
}

}  // namespace

extern "C" {

bertrank_status bertrank_search(const bertrank_index* x, const bertrank_model* encoder, const bertrank_model* reranker,
                                const char* const* queries, const size_t* query_lengths, size_t nq,
                                const bertrank_search_params* params, bertrank_hit* out, size_t out_len,
                                bertrank_timings* timings) {
  return guard("bertrank_search", [&] {
    const bertrank_search_params p = params ? *params : bertrank_search_default_params();
    search_runs(x, encoder, reranker, queries, query_lengths, nq, &p, 1, false, out, out_len, timings);
  });
}

bertrank_status bertrank_search_runs(const bertrank_index* x, const bertrank_model* encoder,
                                     const bertrank_model* reranker, const char* const* queries,
                                     const size_t* query_lengths, size_t nq, const bertrank_search_params* runs,
                                     size_t n_runs, bertrank_hit* out, size_t out_len, bertrank_timings* timings) {
  return guard("bertrank_search_runs", [&] {
    search_runs(x, encoder, reranker, queries, query_lengths, nq, runs, n_runs, true, out, out_len, timings);
  });
}

}  // extern "C"
