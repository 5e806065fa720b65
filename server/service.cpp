// The routes of `bertrank serve` (see service.h): request validation, batching through the
// per-model Batcher, JSON responses in the TEI / OpenAI / Cohere shapes, metrics.
#include "server/service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>

#include "common/json_strict.h"
#include "server/batcher.h"
#include "server/metrics.h"

namespace bertrank::server {

using nlohmann::json;

namespace {

constexpr size_t kMaxJsonDepth = 64;

// A request that cannot be served; handle() turns it into {"error", "error_type"}.
struct ApiError {
  int status;
  const char* type;
  std::string message;
};

[[noreturn]] void fail(int status, const char* type, std::string message) {
  throw ApiError{status, type, std::move(message)};
}
[[noreturn]] void invalid(std::string message) { fail(422, "Validation", std::move(message)); }

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

HttpResponse json_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse error_response(int status, const char* type, const std::string& message) {
  return json_response(status, dump(json{{"error", message}, {"error_type", type}}));
}

// Nesting depth of [ and { outside strings, so that no parser recursion depends on the input.
bool nests_deeper_than(const std::string& s, size_t limit) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

json parse_body(const HttpRequest& req) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos)
    fail(400, "Validation", "the request body is empty: expected a JSON object");
  if (nests_deeper_than(req.body, kMaxJsonDepth))
    fail(400, "Validation", "the request body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  StrictJson p = json_parse_strict(req.body);
  if (!p.ok()) fail(400, "Validation", "the request body " + p.problem());
  if (!p.value.is_object()) invalid("the request body must be a JSON object");
  return std::move(p.value);
}

// A field's value, or nullptr when absent or null (JSON null means "default" everywhere here).
const json* field(const json& o, const char* name) {
  auto it = o.find(name);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

bool get_bool(const json& o, const char* name, bool def) {
  const json* v = field(o, name);
  if (!v) return def;
  if (!v->is_boolean()) invalid(std::string(name) + " must be a boolean");
  return v->get<bool>();
}

std::string get_string(const json& o, const char* name) {
  const json* v = field(o, name);
  if (!v) invalid(std::string(name) + " is required");
  if (!v->is_string()) invalid(std::string(name) + " must be a string");
  return v->get<std::string>();
}

const json* get_optional_string(const json& o, const char* name) {
  const json* v = field(o, name);
  if (v && !v->is_string()) invalid(std::string(name) + " must be a string");
  return v;
}

size_t get_size(const json& o, const char* name, size_t def, size_t lo, size_t hi) {
  const json* v = field(o, name);
  if (!v) return def;
  if (!v->is_number_integer()) invalid(std::string(name) + " must be an integer");
  const bool negative = v->is_number_unsigned() ? false : v->get<int64_t>() < 0;
  const uint64_t x = negative ? 0 : v->get<uint64_t>();
  if (negative || x < lo || x > hi)
    invalid(std::string(name) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return size_t(x);
}

// str | [str], non-empty, at most max_batch entries.
std::vector<std::string> get_texts(const json& o, const char* name, size_t max_batch) {
  const json* v = field(o, name);
  if (!v) invalid(std::string(name) + " is required");
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
    return out;
  }
  if (!v->is_array()) invalid(std::string(name) + " must be a string or an array of strings");
  if (v->empty()) invalid(std::string(name) + " must not be empty");
  if (v->size() > max_batch)
    invalid("batch size " + std::to_string(v->size()) + " > maximum allowed batch size " + std::to_string(max_batch));
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (!e.is_string()) {
      if (e.is_number_integer() || e.is_array())
        invalid(std::string(name) + "[" + std::to_string(i) + "] must be a string (token ids are not accepted)");
      invalid(std::string(name) + "[" + std::to_string(i) + "] must be a string");
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

void check_batch_size(size_t n, size_t max_batch, const char* name) {
  if (n == 0) invalid(std::string(name) + " must not be empty");
  if (n > max_batch)
    invalid("batch size " + std::to_string(n) + " > maximum allowed batch size " + std::to_string(max_batch));
}

// Shortest text that reads back as the same float.
void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) fail(500, "Backend", "the engine produced a non-finite value");
  char b[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(b, sizeof b, "%.*g", digits, double(v));
    if (std::strtof(b, nullptr) == v) break;
  }
  out += b;
}

void append_floats(std::string& out, const float* v, size_t n) {
  out += '[';
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    append_float(out, v[i]);
  }
  out += ']';
}

std::string base64_floats(const float* v, size_t n) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<unsigned char> bytes(4 * n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; ++b) bytes[4 * i + size_t(b)] = static_cast<unsigned char>(u >> (8 * b));  // little-endian
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t x = uint32_t(bytes[i]) << 16 | (i + 1 < bytes.size() ? uint32_t(bytes[i + 1]) << 8 : 0) |
                       (i + 2 < bytes.size() ? uint32_t(bytes[i + 2]) : 0);
    out += kAlphabet[(x >> 18) & 63];
    out += kAlphabet[(x >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(x >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[x & 63] : '=';
  }
  return out;
}

// As the engine's score activation computes it (in double), so that the scores equal
// `bertrank rerank --activation sigmoid` bit for bit.
float sigmoid(float x) { return float(1.0 / (1.0 + std::exp(-double(x)))); }

const char* precision_name(bertrank_precision p) {
  switch (p) {
    case BERTRANK_PRECISION_FP32: return "fp32";
    case BERTRANK_PRECISION_INT8: return "int8";
    case BERTRANK_PRECISION_BF16: return "bf16";
  }
  return "unknown";
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// Byte offset of each code point of a valid UTF-8 string (and the size at the end).
std::vector<size_t> code_point_offsets(const std::string& s) {
  std::vector<size_t> at;
  at.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) at.push_back(i);
  at.push_back(s.size());
  return at;
}

// The engine's failure in a bertrank::Error or a C status: the caller's fault or ours.
[[noreturn]] void engine_fail(bertrank_status s, const std::string& message) {
  if (s == BERTRANK_ERR_INVALID_ARGUMENT || s == BERTRANK_ERR_UNSUPPORTED || s == BERTRANK_ERR_WRONG_MODEL)
    invalid(message);
  std::fprintf(stderr, "bertrank serve: engine failure: %s\n", message.c_str());
  fail(500, "Backend", message);
}

// Holds an Admission slot for a request's life.
class Ticket {
 public:
  explicit Ticket(Admission& a, size_t limit) : a_(a) {
    if (!a_.try_enter())
      fail(429, "Overloaded", "the server is overloaded: " + std::to_string(limit) +
                                  " requests are queued or running (max_concurrent_requests)");
  }
  ~Ticket() { a_.leave(); }
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;

 private:
  Admission& a_;
};

}  // namespace

const std::vector<ServiceRoute>& service_routes() {
  static const std::vector<ServiceRoute> routes = {
      {"POST", "/embed"},      {"POST", "/rerank"},          {"POST", "/tokenize"},
      {"GET", "/health"},      {"GET", "/info"},             {"POST", "/v1/embeddings"},
      {"POST", "/v1/rerank"},  {"POST", "/search"},          {"POST", "/documents"},
      {"GET", "/documents/{id}"}, {"DELETE", "/documents/{id}"}, {"GET", "/metrics"},
      {"GET", "/openapi.json"},
  };
  return routes;
}

struct Service::Impl {
  const Model* encoder;
  const Model* reranker;
  DocumentStore* store;
  ServiceConfig cfg;
  Metrics metrics;
  Admission admission;
  bertrank_model_info enc_info{}, rr_info{};
  Tokenizer enc_tok, rr_tok;
  std::unique_ptr<Batcher> embed_batcher, score_batcher;
  std::string openapi;

  Impl(const Model* e, const Model* r, DocumentStore* s, ServiceConfig c)
      : encoder(e), reranker(r), store(s), cfg(std::move(c)), admission(cfg.max_concurrent_requests) {
    if (encoder) {
      enc_info = encoder->info();
      if (enc_info.kind != BERTRANK_MODEL_EMBEDDING) throw std::invalid_argument("the encoder is not an embedding model");
      enc_tok = encoder->tokenizer();
      embed_batcher = std::make_unique<Batcher>(
          batch_engine_embed(encoder->get(), cfg.num_threads, int(std::min<size_t>(cfg.max_batch_tokens, 1 << 30))),
          size_t(enc_info.dim), cfg.max_batch_tokens, &metrics, 0);
    }
    if (reranker) {
      rr_info = reranker->info();
      if (rr_info.kind != BERTRANK_MODEL_CROSS_ENCODER || rr_info.num_labels != 1)
        throw std::invalid_argument("the reranker must be a cross-encoder with one output");
      rr_tok = reranker->tokenizer();
      score_batcher = std::make_unique<Batcher>(
          batch_engine_score(reranker->get(), cfg.num_threads, int(std::min<size_t>(cfg.max_batch_tokens, 1 << 30))),
          1, cfg.max_batch_tokens, &metrics, 1);
    }
    if (cfg.model_id.empty() && encoder) cfg.model_id = enc_info.name ? enc_info.name : "";
    openapi = with_limits(service_openapi_document());
  }

  // The document is written with the default limits; state the configured ones.
  std::string with_limits(std::string doc) const {
    auto replace_all = [&](const std::string& from, const std::string& to) {
      for (size_t at = doc.find(from); at != std::string::npos; at = doc.find(from, at + to.size()))
        doc.replace(at, from.size(), to);
    };
    replace_all("\"maxItems\": 32", "\"maxItems\": " + std::to_string(cfg.max_client_batch_size));
    replace_all("\"maximum\": 1000", "\"maximum\": " + std::to_string(cfg.max_search_k));
    if (encoder) replace_all("\"maximum\": 384", "\"maximum\": " + std::to_string(encoder->info().dim));
    // Without --api-key no route needs a key: the document must not say they do (clients and
    // schemathesis take "security" at its word).
    if (cfg.api_key.empty()) {
      nlohmann::json j = nlohmann::json::parse(doc);
      j.erase("security");
      for (auto& path : j["paths"])
        for (auto& op : path)
          if (op.is_object()) op.erase("security");  // path items also hold "parameters" arrays
      doc = j.dump(2);
    }
    return doc;
  }

  HttpResponse dispatch(const HttpRequest& req, std::string& route);

  // --- helpers over the models ---
  const Model& need_encoder() const {
    if (!encoder) fail(424, "Unavailable", "no embedding model is loaded (start with -m)");
    return *encoder;
  }
  const Model& need_reranker() const {
    if (!reranker) fail(424, "Unavailable", "no reranker is loaded (start with --reranker)");
    return *reranker;
  }
  DocumentStore& need_store() const {
    if (!store) fail(424, "Unavailable", "no index is loaded (start with -i)");
    return *store;
  }

  static size_t count_tokens(const Tokenizer& t, const std::string& a, const std::string* b) {
    size_t n = 0;
    const bertrank_status s = bertrank_tokenize(t.get(), a.data(), a.size(), b ? b->data() : nullptr,
                                                b ? b->size() : 0, 0, nullptr, nullptr, nullptr, 0, &n);
    if (s != BERTRANK_OK && s != BERTRANK_ERR_BUFFER_TOO_SMALL)
      fail(422, "Tokenizer", std::string("cannot tokenize the input: ") + bertrank_last_error());
    return n;
  }

  // Tokens per input after truncation; over the maximum without truncate: 422.
  std::vector<size_t> tokens_of(const Tokenizer& t, int max_length, const std::vector<std::string>& texts,
                                const std::string* query, bool truncate) const {
    std::vector<size_t> out(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      const size_t n = query ? count_tokens(t, *query, &texts[i]) : count_tokens(t, texts[i], nullptr);
      if (n > size_t(max_length) && !truncate)
        invalid("input " + std::to_string(i) + " has " + std::to_string(n) + " tokens, more than the model's maximum of " +
                std::to_string(max_length) + " (set truncate to true to cut it)");
      out[i] = std::min(n, size_t(max_length));
    }
    return out;
  }

  std::vector<float> embed(const std::vector<std::string>& texts, int normalize, bool truncate, size_t* tokens) {
    need_encoder();
    const std::vector<size_t> t = tokens_of(enc_tok, enc_info.max_length, texts, nullptr, truncate);
    BatchJob job;
    job.texts = texts;
    for (size_t n : t) job.tokens += n;
    job.key.normalize = normalize;
    if (tokens) *tokens = job.tokens;
    BatchResult r = embed_batcher->submit(std::move(job));
    if (!r.ok) fail(500, "Backend", r.error);
    return std::move(r.values);
  }

  std::vector<float> score(const std::string& query, const std::vector<std::string>& docs, bool truncate,
                           size_t* tokens) {
    need_reranker();
    const std::vector<size_t> t = tokens_of(rr_tok, rr_info.max_length, docs, &query, truncate);
    BatchJob job;
    job.texts = docs;
    job.queries.assign(docs.size(), query);
    for (size_t n : t) job.tokens += n;
    if (tokens) *tokens = job.tokens;
    BatchResult r = score_batcher->submit(std::move(job));
    if (!r.ok) fail(500, "Backend", r.error);
    return std::move(r.values);
  }

  // Indices sorted by score, best first (ties: lower index first).
  static std::vector<size_t> ranking(const std::vector<float>& scores) {
    std::vector<size_t> order(scores.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    return order;
  }

  // --- routes ---
  HttpResponse route_embed(const HttpRequest& req) {
    const json b = parse_body(req);
    const std::vector<std::string> inputs = get_texts(b, "inputs", cfg.max_client_batch_size);
    const bool normalize = get_bool(b, "normalize", true);
    const bool truncate = get_bool(b, "truncate", false);
    if (const json* d = get_optional_string(b, "truncation_direction")) {
      const std::string dir = d->get<std::string>();
      if (dir == "Left" || dir == "left") invalid("truncation_direction Left is not supported (only Right)");
      if (dir != "Right" && dir != "right") invalid("truncation_direction must be \"Right\" or \"Left\"");
    }
    if (const json* p = get_optional_string(b, "prompt_name"))
      invalid("model has no prompt named '" + p->get<std::string>() + "' (prompt_name)");
    Ticket ticket(admission, cfg.max_concurrent_requests);
    const std::vector<float> v = embed(inputs, normalize ? 1 : 0, truncate, nullptr);
    const size_t dim = size_t(enc_info.dim);
    std::string out = "[";
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i) out += ',';
      append_floats(out, v.data() + i * dim, dim);
    }
    out += ']';
    return json_response(200, std::move(out));
  }

  HttpResponse route_rerank(const HttpRequest& req) {
    const json b = parse_body(req);
    const std::string query = get_string(b, "query");
    const json* t = field(b, "texts");
    if (!t) invalid("texts is required");
    if (!t->is_array()) invalid("texts must be an array of strings");
    const std::vector<std::string> texts = get_texts(b, "texts", cfg.max_client_batch_size);
    const bool raw = get_bool(b, "raw_scores", false);
    const bool return_text = get_bool(b, "return_text", false);
    const bool truncate = get_bool(b, "truncate", false);
    Ticket ticket(admission, cfg.max_concurrent_requests);
    const std::vector<float> logits = score(query, texts, truncate, nullptr);
    std::vector<float> scores(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) scores[i] = raw ? logits[i] : sigmoid(logits[i]);
    json out = json::array();
    for (size_t i : ranking(scores)) {
      json r = {{"index", i}, {"score", scores[i]}};
      if (return_text) r["text"] = texts[i];
      out.push_back(std::move(r));
    }
    return json_response(200, dump(out));
  }

  HttpResponse route_tokenize(const HttpRequest& req) {
    const json b = parse_body(req);
    const std::vector<std::string> inputs = get_texts(b, "inputs", cfg.max_client_batch_size);
    const bool add_special = get_bool(b, "add_special_tokens", true);
    if (!encoder) need_reranker();
    const Tokenizer& tok = encoder ? enc_tok : rr_tok;
    json out = json::array();
    for (const std::string& text : inputs) {
      const Encoding e = tok.encode(text);
      const std::vector<size_t> at = code_point_offsets(text);
      json tokens = json::array();
      for (size_t i = 0; i < e.ids.size(); ++i) {
        const size_t start = size_t(e.offsets[2 * i]), stop = size_t(e.offsets[2 * i + 1]);
        const bool special = start == stop;  // the tokenizer gives specials the offsets (0, 0)
        if (special && !add_special) continue;
        json t = {{"id", e.ids[i]}, {"special", special}};
        if (special) {
          const char* s = nullptr;
          size_t n = 0;
          if (bertrank_tokenizer_id_to_token(tok.get(), e.ids[i], &s, &n) != BERTRANK_OK)
            fail(500, "Tokenizer", bertrank_last_error());
          t["text"] = std::string(s, n);
          t["start"] = nullptr;
          t["stop"] = nullptr;
        } else {
          const size_t bs = at[std::min(start, at.size() - 1)], be = at[std::min(stop, at.size() - 1)];
          t["text"] = text.substr(bs, be - bs);
          t["start"] = bs;
          t["stop"] = be;
        }
        tokens.push_back(std::move(t));
      }
      out.push_back(std::move(tokens));
    }
    return json_response(200, dump(out));
  }

  static json model_json(const bertrank_model_info& i) {
    return {{"name", i.name ? i.name : ""},
            {"fingerprint", i.fingerprint ? i.fingerprint : ""},
            {"dim", i.dim},
            {"max_input_length", i.max_length},
            {"precision", precision_name(i.precision)},
            {"layers", i.num_layers}};
  }

  HttpResponse route_info() {
    json models = {{"encoder", encoder ? model_json(enc_info) : json(nullptr)},
                   {"reranker", reranker ? model_json(rr_info) : json(nullptr)}};
    json out = {{"model_id", cfg.model_id},
                {"models", std::move(models)},
                {"isa", bertrank_isa()},
                {"threads", cfg.num_threads > 0 ? std::min(cfg.num_threads, bertrank_max_threads())
                                                : bertrank_max_threads()},
                {"limits",
                 {{"max_client_batch_size", cfg.max_client_batch_size},
                  {"max_batch_tokens", cfg.max_batch_tokens},
                  {"max_concurrent_requests", cfg.max_concurrent_requests},
                  {"max_input_length", encoder ? enc_info.max_length : rr_info.max_length},
                  {"max_search_k", cfg.max_search_k},
                  {"payload_limit", cfg.http.max_body_bytes}}},
                {"documents", store ? json(store->size()) : json(nullptr)},
                {"version", bertrank_version()}};
    return json_response(200, dump(out));
  }

  HttpResponse route_openai_embeddings(const HttpRequest& req) {
    const json b = parse_body(req);
    const std::vector<std::string> inputs = get_texts(b, "input", cfg.max_client_batch_size);
    get_optional_string(b, "model");
    get_optional_string(b, "user");
    std::string format = "float";
    if (const json* f = get_optional_string(b, "encoding_format")) format = f->get<std::string>();
    if (format != "float" && format != "base64") invalid("encoding_format must be \"float\" or \"base64\"");
    need_encoder();
    const size_t dim = size_t(enc_info.dim);
    const size_t d = get_size(b, "dimensions", dim, 1, dim);
    Ticket ticket(admission, cfg.max_concurrent_requests);
    size_t tokens = 0;
    std::vector<float> v = embed(inputs, -1, cfg.truncate_v1, &tokens);
    std::string out = "{\"object\":\"list\",\"data\":[";
    std::vector<float> row(d);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const float* src = v.data() + i * dim;
      std::copy(src, src + d, row.begin());
      if (d < dim) {  // Matryoshka: the first d dimensions, re-normalised
        double ss = 0;
        for (float x : row) ss += double(x) * double(x);
        const float inv = ss > 0 ? float(1.0 / std::sqrt(ss)) : 0.0f;
        for (float& x : row) x *= inv;
      }
      if (i) out += ',';
      out += "{\"object\":\"embedding\",\"index\":" + std::to_string(i) + ",\"embedding\":";
      if (format == "base64") out += "\"" + base64_floats(row.data(), d) + "\"";
      else append_floats(out, row.data(), d);
      out += '}';
    }
    out += "],\"model\":" + dump(json(cfg.model_id)) + ",\"usage\":{\"prompt_tokens\":" + std::to_string(tokens) +
           ",\"total_tokens\":" + std::to_string(tokens) + "}}";
    return json_response(200, std::move(out));
  }

  HttpResponse route_cohere_rerank(const HttpRequest& req) {
    const json b = parse_body(req);
    const std::string query = get_string(b, "query");
    const json* docs = field(b, "documents");
    if (!docs) invalid("documents is required");
    if (!docs->is_array()) invalid("documents must be an array");
    check_batch_size(docs->size(), cfg.max_client_batch_size, "documents");
    std::vector<std::string> texts;
    for (size_t i = 0; i < docs->size(); ++i) {
      const json& d = (*docs)[i];
      const std::string at = "documents[" + std::to_string(i) + "]";
      if (d.is_string()) {
        texts.push_back(d.get<std::string>());
      } else if (d.is_object()) {
        auto t = d.find("text");
        if (t == d.end() || !t->is_string()) invalid(at + ".text must be a string");
        texts.push_back(t->get<std::string>());
      } else {
        invalid(at + " must be a string or an object with a text");
      }
    }
    const size_t top_n = get_size(b, "top_n", texts.size(), 1, size_t(1) << 31);
    const bool return_documents = get_bool(b, "return_documents", false);
    get_optional_string(b, "model");
    Ticket ticket(admission, cfg.max_concurrent_requests);
    size_t tokens = 0;
    const std::vector<float> logits = score(query, texts, cfg.truncate_v1, &tokens);
    std::vector<float> scores(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) scores[i] = sigmoid(logits[i]);
    json results = json::array();
    for (size_t i : ranking(scores)) {
      if (results.size() >= top_n) break;
      json r = {{"index", i}, {"relevance_score", scores[i]}};
      if (return_documents) r["document"] = {{"text", texts[i]}};
      results.push_back(std::move(r));
    }
    json out = {{"results", std::move(results)},
                {"model", reranker && rr_info.name ? rr_info.name : ""},
                {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
    return json_response(200, dump(out));
  }

  HttpResponse route_search(const HttpRequest& req) {
    const json b = parse_body(req);
    DocumentStore& st = need_store();
    const bool has_query = b.contains("query"), has_queries = b.contains("queries");
    if (has_query == has_queries) invalid("give exactly one of query (a string) and queries (an array of strings)");
    std::vector<std::string> queries;
    if (has_query) queries.push_back(get_string(b, "query"));
    else {
      if (!b.at("queries").is_array()) invalid("queries must be an array of strings");
      queries = get_texts(b, "queries", cfg.max_client_batch_size);
    }
    const size_t k = get_size(b, "k", 10, 1, cfg.max_search_k);
    bertrank_search_params p = bertrank_search_default_params();
    std::string mode = "dense";
    if (const json* m = get_optional_string(b, "mode")) mode = m->get<std::string>();
    if (mode == "dense") p.mode = BERTRANK_SEARCH_DENSE;
    else if (mode == "bm25") p.mode = BERTRANK_SEARCH_BM25;
    else if (mode == "hybrid") p.mode = BERTRANK_SEARCH_HYBRID;
    else invalid("mode must be \"dense\", \"bm25\" or \"hybrid\"");
    const bool rerank = get_bool(b, "rerank", reranker != nullptr);
    const size_t candidates = get_size(b, "candidates", std::max<size_t>(50, k), 1, cfg.max_search_k);
    const bool return_text = get_bool(b, "return_text", false);
    const bool want_timings = get_bool(b, "timings", false);
    if (p.mode != BERTRANK_SEARCH_BM25) need_encoder();
    if (rerank) need_reranker();
    p.k = k;
    p.candidates = rerank ? candidates : 0;
    p.num_threads = cfg.num_threads;
    p.rerank.num_threads = cfg.num_threads;
    Ticket ticket(admission, cfg.max_concurrent_requests);

    std::vector<const char*> q;
    std::vector<size_t> ql;
    for (const std::string& s : queries) {
      q.push_back(s.data());
      ql.push_back(s.size());
    }
    bertrank_timings timings{};
    json results = st.read([&](const bertrank_index* index) {
      std::vector<bertrank_hit> hits(queries.size() * k);
      const bertrank_status s = bertrank_search(index, encoder ? encoder->get() : nullptr,
                                                rerank && reranker ? reranker->get() : nullptr, q.data(), ql.data(),
                                                q.size(), &p, hits.data(), hits.size(), &timings);
      if (s != BERTRANK_OK) engine_fail(s, bertrank_last_error());
      json all = json::array();
      for (size_t i = 0; i < queries.size(); ++i) {
        json list = json::array();
        for (size_t j = 0; j < k; ++j) {
          const bertrank_hit& h = hits[i * k + j];
          if (h.id < 0) break;
          json r = {{"id", h.id}, {"score", h.score}, {"first_stage_score", h.first_stage_score},
                    {"reranked", h.reranked != 0}};
          const char* text = nullptr;
          size_t len = 0;
          const char* meta = nullptr;
          if (bertrank_index_document(index, h.id, &text, &len, &meta) == BERTRANK_OK) {
            if (return_text) r["text"] = std::string(text, len);
            if (meta && *meta) {
              StrictJson m = json_parse_strict(meta, meta + std::strlen(meta));
              if (m.ok() && m.value.is_object()) r["meta"] = std::move(m.value);
            }
          }
          list.push_back(std::move(r));
        }
        all.push_back(std::move(list));
      }
      return all;
    });
    json out = {{"results", std::move(results)}};
    if (want_timings)
      out["timings"] = {{"embed_ms", timings.embed_seconds * 1e3},
                        {"search_ms", timings.search_seconds * 1e3},
                        {"rerank_ms", timings.rerank_seconds * 1e3}};
    return json_response(200, dump(out));
  }

  HttpResponse route_add_documents(const HttpRequest& req) {
    const json b = parse_body(req);
    DocumentStore& st = need_store();
    const json* docs = field(b, "documents");
    if (!docs) invalid("documents is required");
    if (!docs->is_array()) invalid("documents must be an array of objects");
    check_batch_size(docs->size(), cfg.max_client_batch_size, "documents");
    need_encoder();
    std::vector<StoreDocument> add;
    for (size_t i = 0; i < docs->size(); ++i) {
      const json& d = (*docs)[i];
      const std::string at = "documents[" + std::to_string(i) + "]";
      if (!d.is_object()) invalid(at + " must be an object with a text");
      StoreDocument sd;
      if (const json* id = field(d, "id")) {
        if (!id->is_number_integer() || (!id->is_number_unsigned() && id->get<int64_t>() < 0) ||
            (id->is_number_unsigned() && id->get<uint64_t>() > uint64_t(INT64_MAX)))
          invalid(at + ".id must be an integer >= 0");
        sd.id = id->get<int64_t>();
      }
      const json* text = field(d, "text");
      if (!text || !text->is_string()) invalid(at + ".text must be a string");
      sd.text = text->get<std::string>();
      if (const json* meta = field(d, "meta")) {
        if (!meta->is_object()) invalid(at + ".meta must be an object");
        sd.meta = dump(*meta);
      }
      add.push_back(std::move(sd));
    }
    Ticket ticket(admission, cfg.max_concurrent_requests);
    bertrank_embed_params ep = bertrank_embed_default_params();
    ep.num_threads = cfg.num_threads;
    std::vector<int64_t> ids;
    try {
      ids = st.add(add, ep);
    } catch (const DocumentConflict& e) {
      fail(409, "Conflict", e.what());
    } catch (const std::invalid_argument& e) {
      invalid(e.what());
    } catch (const Error& e) {
      engine_fail(e.status(), e.what());
    }
    return json_response(200, dump(json{{"ids", ids}}));
  }

  static int64_t document_id(const std::string& s) {
    // Digits only, at most INT64_MAX (what a body "id" may be).
    uint64_t v = 0;
    bool ok = !s.empty() && s.size() <= 19 && s.find_first_not_of("0123456789") == std::string::npos;
    for (size_t i = 0; ok && i < s.size(); ++i) v = v * 10 + uint64_t(s[i] - '0');  // 19 digits < 2^64
    if (!ok || v > uint64_t(INT64_MAX))
      invalid("the document id must be an integer between 0 and 9223372036854775807, not '" + s.substr(0, 40) + "'");
    return int64_t(v);
  }

  HttpResponse route_get_document(const std::string& id_text) {
    DocumentStore& st = need_store();
    const int64_t id = document_id(id_text);
    return st.read([&](const bertrank_index* index) {
      const char* text = nullptr;
      size_t len = 0;
      const char* meta = nullptr;
      if (bertrank_index_document(index, id, &text, &len, &meta) != BERTRANK_OK)
        fail(404, "NotFound", "no document with id " + std::to_string(id));
      json out = {{"id", id}, {"text", std::string(text, len)}, {"meta", nullptr}};
      if (meta && *meta) {
        StrictJson m = json_parse_strict(meta, meta + std::strlen(meta));
        if (m.ok()) out["meta"] = std::move(m.value);
      }
      return json_response(200, dump(out));
    });
  }

  HttpResponse route_delete_document(const std::string& id_text) {
    DocumentStore& st = need_store();
    const int64_t id = document_id(id_text);
    Ticket ticket(admission, cfg.max_concurrent_requests);
    const size_t removed = st.remove({id});
    return json_response(200, dump(json{{"removed", removed}}));
  }

  HttpResponse route_metrics() {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics.render([this](int m) -> size_t {
      const Batcher* b = m == 0 ? embed_batcher.get() : score_batcher.get();
      return b ? b->queue_depth() : 0;
    });
    return r;
  }
};

HttpResponse Service::Impl::dispatch(const HttpRequest& req, std::string& route) {
  // Match the path to a route pattern; "{id}" matches one non-empty segment.
  std::string param;
  std::vector<std::string> allowed;
  for (const ServiceRoute& r : service_routes()) {
    const std::string pattern = r.path;
    const size_t brace = pattern.find('{');
    bool match;
    if (brace == std::string::npos) {
      match = req.path == pattern;
    } else {
      const std::string prefix = pattern.substr(0, brace);
      match = req.path.size() > prefix.size() && req.path.compare(0, prefix.size(), prefix) == 0 &&
              req.path.find('/', prefix.size()) == std::string::npos;
      if (match) param = req.path.substr(prefix.size());
    }
    if (!match) continue;
    route = pattern;
    if (req.method == r.method) {
      allowed.clear();
      break;
    }
    allowed.push_back(r.method);
  }
  if (route.empty()) {
    route = "other";
    fail(404, "NotFound", "no route " + req.path.substr(0, 200));
  }
  if (!allowed.empty()) {
    std::string allow;
    for (const std::string& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    HttpResponse r = error_response(405, "Validation", "method " + req.method.substr(0, 20) + " is not allowed on " +
                                                           route + " (allowed: " + allow + ")");
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  const bool open_route = req.method == "GET" && route == "/health";
  if (!cfg.api_key.empty() && !open_route) {
    const std::string* auth = req.header("authorization");
    if (!auth || !constant_time_equal(*auth, "Bearer " + cfg.api_key)) {
      HttpResponse r = error_response(401, "Unauthorized", auth ? "the API key is wrong"
                                                                : "an API key is required: Authorization: Bearer <key>");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
  }
  if (req.body.size() > cfg.http.max_body_bytes)
    fail(413, "Validation", "the payload of " + std::to_string(req.body.size()) + " bytes is over the limit of " +
                                std::to_string(cfg.http.max_body_bytes));

  if (route == "/embed") return route_embed(req);
  if (route == "/rerank") return route_rerank(req);
  if (route == "/tokenize") return route_tokenize(req);
  if (route == "/health") return json_response(200, "{\"status\":\"ok\"}");
  if (route == "/info") return route_info();
  if (route == "/v1/embeddings") return route_openai_embeddings(req);
  if (route == "/v1/rerank") return route_cohere_rerank(req);
  if (route == "/search") return route_search(req);
  if (route == "/documents") return route_add_documents(req);
  if (route == "/documents/{id}") return req.method == "GET" ? route_get_document(param) : route_delete_document(param);
  if (route == "/metrics") return route_metrics();
  if (route == "/openapi.json") return json_response(200, openapi);
  fail(404, "NotFound", "no route " + req.path.substr(0, 200));
}

Service::Service(const Model* encoder, const Model* reranker, DocumentStore* store, ServiceConfig config)
    : impl_(std::make_unique<Impl>(encoder, reranker, store, std::move(config))) {}

Service::~Service() = default;

HttpResponse Service::handle(const HttpRequest& request) noexcept {
  const auto t0 = std::chrono::steady_clock::now();
  std::string route;
  HttpResponse r;
  try {
    try {
      r = impl_->dispatch(request, route);
    } catch (const ApiError& e) {
      r = error_response(e.status, e.type, e.message);
      if (e.status == 429) r.headers.emplace_back("Retry-After", "1");
    } catch (const std::bad_alloc&) {
      r = error_response(500, "Backend", "out of memory");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bertrank serve: %s %s failed: %s\n", request.method.c_str(), request.path.c_str(), e.what());
      r = error_response(500, "Backend", e.what());
    }
    if (route.empty()) route = "other";
    impl_->metrics.count_request(route, r.status,
                                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  } catch (...) {
    r = HttpResponse{};
    r.status = 500;
    r.body = "{\"error\":\"internal error\",\"error_type\":\"Backend\"}";
  }
  return r;
}

void Service::count_transport_error(int status) noexcept {
  try {
    impl_->metrics.count_request("transport", status, 0.0);
  } catch (...) {
  }
}

}  // namespace bertrank::server
