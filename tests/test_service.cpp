// Service*: the routes of `bertrank serve` through Service::handle() (no sockets), with the real
// models, and the Batcher on its own with a scripted engine.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "bertrank/bertrank.hpp"
#include "server/batcher.h"
#include "server/service.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

using bertrank::Model;
using bertrank::server::BatchEngine;
using bertrank::server::BatchJob;
using bertrank::server::BatchKey;
using bertrank::server::Batcher;
using bertrank::server::HttpRequest;
using bertrank::server::HttpResponse;
using bertrank::server::Service;
using bertrank::server::ServiceConfig;
using nlohmann::json;

namespace {

const Model* encoder() {
  static std::unique_ptr<Model> m = [] {
    const std::string p = bertrank::test::weights_dir() + "/all-MiniLM-L6-v2.brm";
    return bertrank::test::exists(p) ? std::make_unique<Model>(p) : nullptr;
  }();
  return m.get();
}
const Model* reranker() {
  static std::unique_ptr<Model> m = [] {
    const std::string p = bertrank::test::weights_dir() + "/ms-marco-MiniLM-L-12-v2.brm";
    return bertrank::test::exists(p) ? std::make_unique<Model>(p) : nullptr;
  }();
  return m.get();
}

#define NEED_MODELS()                                                                                   \
  if (!encoder() || !reranker())                                                                        \
  GTEST_SKIP() << "weights/all-MiniLM-L6-v2.brm or weights/ms-marco-MiniLM-L-12-v2.brm not found "      \
                  "(run ./scripts/setup.sh)"

HttpResponse call(Service& s, const std::string& method, const std::string& path, const std::string& body = "",
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.method = method;
  r.target = path;
  r.path = path.substr(0, path.find('?'));
  r.body = body;
  r.headers = std::move(headers);
  return s.handle(r);
}

json body_of(const HttpResponse& r) { return json::parse(r.body); }

// Status and the error message (expects an error body).
std::string error_of(const HttpResponse& r) {
  const json j = body_of(r);
  EXPECT_TRUE(j.contains("error_type")) << r.body;
  return j.value("error", std::string());
}

std::vector<float> direct_embed(const std::string& text, int normalize = -1) {
  bertrank_embed_params p = bertrank_embed_default_params();
  p.normalize = normalize;
  return encoder()->embed(std::vector<std::string>{text}, p);
}

float direct_logit(const std::string& q, const std::string& d) {
  return reranker()->score(q, std::vector<std::string>{d})[0];
}

// The engine's own sigmoid score (what `bertrank rerank --activation sigmoid` prints).
float direct_sigmoid(const std::string& q, const std::string& d) {
  bertrank_score_params p = bertrank_score_default_params();
  p.activation = BERTRANK_ACTIVATION_SIGMOID;
  return reranker()->score(q, std::vector<std::string>{d}, p)[0];
}

std::vector<float> floats_of(const json& a) {
  std::vector<float> v;
  for (const json& x : a) v.push_back(x.get<float>());
  return v;
}

std::string long_text(size_t words) {
  std::string t;
  for (size_t i = 0; i < words; ++i) t += "word" + std::to_string(i % 7) + " ";
  return t;
}


}  // namespace

TEST(ServiceEmbed, ReturnsTheEngineVectorsBitForBit) {
  NEED_MODELS();
  Service s(encoder(), reranker(), nullptr, ServiceConfig{});
  const HttpResponse r = call(s, "POST", "/embed", R"({"inputs": ["hello world", "CPU retrieval"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  const json j = body_of(r);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  const char* texts[] = {"hello world", "CPU retrieval"};
  for (size_t i = 0; i < 2; ++i) {
    const std::vector<float> got = floats_of(j[i]), want = direct_embed(texts[i]);
    ASSERT_EQ(got.size(), 384u);
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float))) << i;
  }
  // A single string is one input.
  const HttpResponse one = call(s, "POST", "/embed", R"({"inputs": "hello world"})");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(floats_of(body_of(one)[0]), direct_embed("hello world"));
}

TEST(ServiceEmbed, NormalizeFalseGivesThePooledVector) {
  NEED_MODELS();
  Service s(encoder(), reranker(), nullptr, ServiceConfig{});
  const HttpResponse r = call(s, "POST", "/embed", R"({"inputs": "hello world", "normalize": false})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<float> raw = floats_of(body_of(r)[0]);
  EXPECT_EQ(raw, direct_embed("hello world", 0));
  double ss = 0;
  for (float x : raw) ss += double(x) * x;
  EXPECT_GT(std::fabs(std::sqrt(ss) - 1.0), 0.01) << "mean-pooled MiniLM vectors are not unit length";
  // Normalising the raw vector gives the default answer (up to rounding).
  const std::vector<float> unit = direct_embed("hello world", 1);
  for (size_t i = 0; i < raw.size(); ++i) EXPECT_NEAR(raw[i] / std::sqrt(ss), unit[i], 1e-6);
}

TEST(ServiceEmbed, EmbedParamsRefuseAnUnknownNormalizeValue) {
  NEED_MODELS();
  bertrank_embed_params p = bertrank_embed_default_params();
  EXPECT_EQ(p.normalize, -1);
  p.normalize = 2;
  const char* t = "x";
  std::vector<float> out(384);
  EXPECT_EQ(bertrank_embed(encoder()->get(), &t, nullptr, 1, &p, out.data(), out.size(), nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(bertrank_last_error()).find("normalize"), std::string::npos);
}

TEST(ServiceEmbed, RefusesBadInputWithTheFieldNamed) {
  NEED_MODELS();
  Service s(encoder(), reranker(), nullptr, ServiceConfig{});
  struct Case {
    std::string body;
    int status;
    std::string message_part;
  };
  std::string inputs33 = "[";
  for (int i = 0; i < 33; ++i) inputs33 += std::string(i ? "," : "") + "\"t\"";
  inputs33 += "]";
  std::string deep(100, '[');
  deep += std::string(100, ']');
  const std::vector<Case> cases = {
      {"", 400, "empty"},
      {"{\"inputs\": ", 400, "not valid JSON"},
      {"not json", 400, "not valid JSON"},
      {"{\"inputs\": \"a\", \"inputs\": \"b\"}", 400, "twice"},
      {"{\"inputs\": " + deep + "}", 400, "deeper than 64"},
      {"{\"inputs\": \"\xff\xfe\"}", 400, "not valid JSON"},
      {"[1, 2]", 422, "JSON object"},
      {"{}", 422, "inputs is required"},
      {"{\"inputs\": 5}", 422, "inputs must be a string"},
      {"{\"inputs\": []}", 422, "inputs must not be empty"},
      {"{\"inputs\": [\"a\", 3]}", 422, "inputs[1] must be a string"},
      {"{\"inputs\": " + inputs33 + "}", 422, "batch size 33 > maximum allowed batch size 32"},
      {"{\"inputs\": \"a\", \"normalize\": \"yes\"}", 422, "normalize must be a boolean"},
      {"{\"inputs\": \"a\", \"truncate\": 1}", 422, "truncate must be a boolean"},
      {"{\"inputs\": \"a\", \"truncation_direction\": \"Left\"}", 422, "Left is not supported"},
      {"{\"inputs\": \"a\", \"truncation_direction\": \"Up\"}", 422, "truncation_direction must be"},
      {"{\"inputs\": \"a\", \"prompt_name\": \"query\"}", 422, "model has no prompt named 'query'"},
  };
  for (const Case& c : cases) {
    const HttpResponse r = call(s, "POST", "/embed", c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 80) << " -> " << r.body;
    EXPECT_NE(error_of(r).find(c.message_part), std::string::npos) << c.body.substr(0, 80) << " -> " << r.body;
  }
  // Too many tokens without truncate: the count and the maximum; with truncate it runs.
  const std::string text = long_text(300);
  const size_t n = encoder()->tokenizer().encode(text).ids.size();
  ASSERT_GT(n, 256u);
  const HttpResponse too_long = call(s, "POST", "/embed", json{{"inputs", json::array({"short", text})}}.dump());
  EXPECT_EQ(too_long.status, 422);
  EXPECT_EQ(error_of(too_long),
            "input 1 has " + std::to_string(n) +
                " tokens, more than the model's maximum of 256 (set truncate to true to cut it)");
  const HttpResponse cut = call(s, "POST", "/embed", json{{"inputs", text}, {"truncate", true}}.dump());
  ASSERT_EQ(cut.status, 200) << cut.body;
  EXPECT_EQ(floats_of(body_of(cut)[0]), direct_embed(text));
  // null means the default.
  EXPECT_EQ(call(s, "POST", "/embed", R"({"inputs": "a", "normalize": null, "prompt_name": null})").status, 200);
}

TEST(ServiceRouting, UnknownRoute404WrongMethod405WithAllow) {
  NEED_MODELS();
  Service s(encoder(), reranker(), nullptr, ServiceConfig{});
  const HttpResponse nf = call(s, "GET", "/nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(body_of(nf)["error_type"], "NotFound");
  const HttpResponse m = call(s, "GET", "/embed");
  EXPECT_EQ(m.status, 405);
  ASSERT_EQ(m.headers.size(), 1u);
  EXPECT_EQ(m.headers[0].first, "Allow");
  EXPECT_EQ(m.headers[0].second, "POST");
  const HttpResponse d = call(s, "PUT", "/documents/3");
  EXPECT_EQ(d.status, 405);
  EXPECT_EQ(d.headers.at(0).second, "GET, DELETE");
  const HttpResponse big = call(s, "POST", "/embed", std::string(3 << 20, ' '));
  EXPECT_EQ(big.status, 413);
}

TEST(ServiceRouting, MissingModelOrIndexIs424) {
  Service s(nullptr, nullptr, nullptr, ServiceConfig{});
  for (const char* path : {"/embed", "/v1/embeddings"})
    EXPECT_EQ(call(s, "POST", path, R"({"inputs": "a", "input": "a"})").status, 424) << path;
  EXPECT_EQ(call(s, "POST", "/rerank", R"({"query": "q", "texts": ["a"]})").status, 424);
  EXPECT_EQ(call(s, "POST", "/search", R"({"query": "q"})").status, 424);
  EXPECT_EQ(call(s, "GET", "/documents/1").status, 424);
  EXPECT_EQ(call(s, "GET", "/health").status, 200);
}

TEST(ServiceAuth, BearerKeyOnEveryRouteButHealth) {
  NEED_MODELS();
  ServiceConfig cfg;
  cfg.api_key = "s3cret";
  Service s(encoder(), reranker(), nullptr, cfg);
  const std::string body = R"({"inputs": "a"})";
  const HttpResponse none = call(s, "POST", "/embed", body);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(body_of(none)["error_type"], "Unauthorized");
  EXPECT_EQ(call(s, "POST", "/embed", body, {{"authorization", "Bearer s3cre"}}).status, 401);
  EXPECT_EQ(call(s, "POST", "/embed", body, {{"authorization", "Bearer s3cret!"}}).status, 401);
  EXPECT_EQ(call(s, "POST", "/embed", body, {{"authorization", "s3cret"}}).status, 401);
  EXPECT_EQ(call(s, "POST", "/embed", body, {{"authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(call(s, "GET", "/metrics").status, 401);
  EXPECT_EQ(call(s, "GET", "/info").status, 401);
  EXPECT_EQ(call(s, "GET", "/health").status, 200);
}

TEST(ServiceRerank, SortedSigmoidScoresOrRawLogits) {
  NEED_MODELS();
  Service s(encoder(), reranker(), nullptr, ServiceConfig{});
  const std::string q = "what is the capital of France?";
  const std::vector<std::string> texts = {"Bananas are yellow.", "Paris is the capital of France.",
                                          "France is in Europe."};
  const HttpResponse r = call(s, "POST", "/rerank", json{{"query", q}, {"texts", texts}, {"return_text", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = body_of(r);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["index"], 1);
  for (size_t i = 0; i < 3; ++i) {
    const size_t idx = j[i]["index"];
    EXPECT_EQ(j[i]["text"], texts[idx]);
    EXPECT_EQ(j[i]["score"].get<float>(), direct_sigmoid(q, texts[idx]));
    if (i) {
      EXPECT_GE(j[i - 1]["score"].get<float>(), j[i]["score"].get<float>());
    }
  }
  const HttpResponse raw = call(s, "POST", "/rerank", json{{"query", q}, {"texts", texts}, {"raw_scores", true}}.dump());
  ASSERT_EQ(raw.status, 200);
  for (const json& e : body_of(raw)) {
    EXPECT_FALSE(e.contains("text"));
    EXPECT_EQ(e["score"].get<float>(), direct_logit(q, texts[e["index"].get<size_t>()]));
  }
  EXPECT_EQ(call(s, "POST", "/rerank", R"({"query": "q", "texts": []})").status, 422);
  EXPECT_NE(error_of(call(s, "POST", "/rerank", R"({"texts": ["a"]})")).find("query is required"), std::string::npos);
  EXPECT_NE(error_of(call(s, "POST", "/rerank", R"({"query": "q", "texts": "a"})")).find("texts must be an array"),
            std::string::npos);
  const HttpResponse too_long = call(s, "POST", "/rerank", json{{"query", q}, {"texts", json::array({long_text(600)})}}.dump());
  EXPECT_EQ(too_long.status, 422);
  EXPECT_NE(error_of(too_long).find("more than the model's maximum of 512"), std::string::npos);
}

TEST(ServiceTokenize, TeiTokensWithByteOffsets) {
  NEED_MODELS();
  Service s(encoder(), reranker(), nullptr, ServiceConfig{});
  const std::string text = "café au lait";
  const HttpResponse r = call(s, "POST", "/tokenize", json{{"inputs", text}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json toks = body_of(r).at(0);
  ASSERT_TRUE(toks.is_array() && toks.at(0).is_object()) << r.body;
  const bertrank::Encoding e = encoder()->tokenizer().encode(text);
  ASSERT_EQ(toks.size(), e.ids.size());
  EXPECT_EQ(toks.front()["text"], "[CLS]");
  EXPECT_TRUE(toks.front()["special"].get<bool>());
  EXPECT_TRUE(toks.front()["start"].is_null());
  EXPECT_EQ(toks.back()["text"], "[SEP]");
  for (size_t i = 0; i < toks.size(); ++i) {
    EXPECT_EQ(toks[i]["id"], e.ids[i]);
    if (toks[i]["special"]) continue;
    const size_t a = toks[i]["start"], b = toks[i]["stop"];
    EXPECT_EQ(toks[i]["text"], text.substr(a, b - a));
  }
  EXPECT_EQ(toks[1]["text"], "café");  // 5 bytes: offsets are bytes, as TEI's
  EXPECT_EQ(toks[1]["stop"], 5);
  const HttpResponse plain = call(s, "POST", "/tokenize", json{{"inputs", json::array({text, "x"})}, {"add_special_tokens", false}}.dump());
  ASSERT_EQ(plain.status, 200);
  const json pj = body_of(plain);
  ASSERT_EQ(pj.size(), 2u);
  EXPECT_EQ(pj.at(0).size(), e.ids.size() - 2);
  for (const json& t : pj.at(0)) EXPECT_FALSE(t["special"].get<bool>());
}

TEST(ServiceOpenAI, FloatBase64DimensionsAndUsage) {
  NEED_MODELS();
  ServiceConfig cfg;
  cfg.model_id = "minilm";
  Service s(encoder(), reranker(), nullptr, cfg);
  const std::vector<std::string> in = {"hello world", "second input"};
  const HttpResponse f = call(s, "POST", "/v1/embeddings", json{{"input", in}, {"model", "x"}}.dump());
  ASSERT_EQ(f.status, 200) << f.body;
  const json j = body_of(f);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "minilm");
  ASSERT_EQ(j["data"].size(), 2u);
  size_t tokens = 0;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(j["data"][i]["object"], "embedding");
    EXPECT_EQ(j["data"][i]["index"], i);
    EXPECT_EQ(floats_of(j["data"][i]["embedding"]), direct_embed(in[i]));
    tokens += encoder()->tokenizer().encode(in[i]).ids.size();
  }
  EXPECT_EQ(j["usage"]["prompt_tokens"], tokens);
  EXPECT_EQ(j["usage"]["total_tokens"], tokens);

  const HttpResponse b = call(s, "POST", "/v1/embeddings", json{{"input", in[0]}, {"encoding_format", "base64"}}.dump());
  ASSERT_EQ(b.status, 200) << b.body;
  const std::string bytes = bertrank::test::base64_decode(body_of(b)["data"][0]["embedding"]);
  const std::vector<float> want = direct_embed(in[0]);
  ASSERT_EQ(bytes.size(), want.size() * 4);
  for (size_t i = 0; i < want.size(); ++i) {  // little-endian float32
    uint32_t u;
    std::memcpy(&u, &want[i], 4);
    for (int k = 0; k < 4; ++k) ASSERT_EQ(uint8_t(bytes[4 * i + size_t(k)]), uint8_t(u >> (8 * k))) << i;
  }

  const HttpResponse d = call(s, "POST", "/v1/embeddings", json{{"input", in[0]}, {"dimensions", 16}}.dump());
  ASSERT_EQ(d.status, 200) << d.body;
  const std::vector<float> v16 = floats_of(body_of(d)["data"][0]["embedding"]);
  ASSERT_EQ(v16.size(), 16u);
  double ss = 0;
  for (size_t i = 0; i < 16; ++i) ss += double(want[i]) * want[i];
  for (size_t i = 0; i < 16; ++i) EXPECT_NEAR(v16[i], want[i] / std::sqrt(ss), 1e-6);

  EXPECT_EQ(call(s, "POST", "/v1/embeddings", json{{"input", "a"}, {"dimensions", 385}}.dump()).status, 422);
  EXPECT_EQ(call(s, "POST", "/v1/embeddings", json{{"input", "a"}, {"dimensions", 0}}.dump()).status, 422);
  EXPECT_NE(error_of(call(s, "POST", "/v1/embeddings", R"({"input": "a", "encoding_format": "int8"})"))
                .find("encoding_format"),
            std::string::npos);
  EXPECT_NE(error_of(call(s, "POST", "/v1/embeddings", R"({"input": [[101, 102]]})")).find("token ids"),
            std::string::npos);
  // Over-long input is truncated here (OpenAI clients cannot ask for it).
  const HttpResponse t = call(s, "POST", "/v1/embeddings", json{{"input", long_text(400)}}.dump());
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(body_of(t)["usage"]["prompt_tokens"], 256);
}

TEST(ServiceCohere, RerankTopNDocumentsAndUsage) {
  NEED_MODELS();
  Service s(encoder(), reranker(), nullptr, ServiceConfig{});
  const std::string q = "capital of France";
  const json docs = {"Bananas are yellow.", {{"text", "Paris is the capital of France."}}, "France is in Europe."};
  const HttpResponse r = call(s, "POST", "/v1/rerank",
                              json{{"query", q}, {"documents", docs}, {"top_n", 2}, {"return_documents", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = body_of(r);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["index"], 1);
  EXPECT_EQ(j["results"][0]["document"]["text"], "Paris is the capital of France.");
  const float want = direct_sigmoid(q, "Paris is the capital of France.");
  EXPECT_EQ(j["results"][0]["relevance_score"].get<float>(), want);
  EXPECT_GE(j["results"][0]["relevance_score"].get<float>(), j["results"][1]["relevance_score"].get<float>());
  EXPECT_GT(j["usage"]["total_tokens"].get<size_t>(), 10u);
  const HttpResponse no_docs = call(s, "POST", "/v1/rerank", json{{"query", q}, {"documents", docs}}.dump());
  ASSERT_EQ(body_of(no_docs)["results"].size(), 3u);
  EXPECT_FALSE(body_of(no_docs)["results"][0].contains("document"));
  EXPECT_EQ(call(s, "POST", "/v1/rerank", R"({"query": "q", "documents": [{"txt": "a"}]})").status, 422);
  EXPECT_EQ(call(s, "POST", "/v1/rerank", R"({"query": "q", "documents": ["a"], "top_n": 0})").status, 422);
}

TEST(ServiceInfo, HealthInfoMetricsOpenApi) {
  NEED_MODELS();
  ServiceConfig cfg;
  cfg.max_client_batch_size = 8;
  Service s(encoder(), reranker(), nullptr, cfg);
  const HttpResponse h = call(s, "GET", "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(body_of(h)["status"], "ok");

  const json info = body_of(call(s, "GET", "/info"));
  EXPECT_EQ(info["models"]["encoder"]["dim"], 384);
  EXPECT_EQ(info["models"]["encoder"]["max_input_length"], 256);
  EXPECT_EQ(info["models"]["encoder"]["layers"], 6);
  EXPECT_EQ(info["models"]["reranker"]["layers"], 12);
  EXPECT_EQ(info["models"]["encoder"]["fingerprint"], encoder()->info().fingerprint);
  EXPECT_EQ(info["isa"], bertrank_isa());
  EXPECT_EQ(info["version"], bertrank_version());
  EXPECT_EQ(info["limits"]["max_client_batch_size"], 8);
  EXPECT_EQ(info["limits"]["payload_limit"], cfg.http.max_body_bytes);
  EXPECT_EQ(info["model_id"], encoder()->info().name);

  ASSERT_EQ(call(s, "POST", "/embed", R"({"inputs": ["a", "b", "c"]})").status, 200);
  ASSERT_EQ(call(s, "POST", "/embed", R"({"inputs": 1})").status, 422);
  s.count_transport_error(408);
  const HttpResponse m = call(s, "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  for (const char* line : {"bertrank_requests_total{route=\"/embed\",status=\"200\"} 1\n",
                           "bertrank_requests_total{route=\"/embed\",status=\"422\"} 1\n",
                           "bertrank_requests_total{route=\"transport\",status=\"408\"} 1\n",
                           "bertrank_batch_size_bucket{model=\"encoder\",le=\"4\"} 1\n",
                           "bertrank_batch_size_count{model=\"encoder\"} 1\n",
                           "bertrank_queue_depth{model=\"encoder\"} 0\n",
                           "bertrank_request_duration_seconds_count{route=\"/embed\"} 2\n",
                           "# TYPE bertrank_inference_duration_seconds histogram\n"})
    EXPECT_NE(m.body.find(line), std::string::npos) << line << "\n" << m.body;
  const size_t at = m.body.find("bertrank_tokens_total{model=\"encoder\"} ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(std::stoul(m.body.substr(at + std::strlen("bertrank_tokens_total{model=\"encoder\"} "))), 9u);  // 3 × 3

  const HttpResponse o = call(s, "GET", "/openapi.json");
  ASSERT_EQ(o.status, 200);
  const json doc = body_of(o);
  EXPECT_EQ(doc["openapi"], "3.0.3");
  for (const auto& route : bertrank::server::service_routes()) {
    std::string method = route.method;
    for (char& c : method) c = char(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_TRUE(doc["paths"].contains(route.path) && doc["paths"][route.path].contains(method))
        << route.method << " " << route.path;
  }
  size_t documented = 0;
  for (const auto& [path, ops] : doc["paths"].items())
    for (const auto& [method, op] : ops.items())
      if (method != "parameters") ++documented;
  EXPECT_EQ(documented, bertrank::server::service_routes().size());
  EXPECT_EQ(doc["paths"]["/embed"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
               ["inputs"]["$ref"],
            "#/components/schemas/Inputs");
  EXPECT_EQ(doc["components"]["schemas"]["Inputs"]["oneOf"][1]["maxItems"], 8);  // the configured limit
  EXPECT_EQ(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
}

TEST(ServiceBatching, ConcurrentRequestsEqualSingleCallsBitForBit) {
  NEED_MODELS();
  Service s(encoder(), reranker(), nullptr, ServiceConfig{});
  constexpr int kThreads = 16;
  std::vector<std::string> texts;
  for (int i = 0; i < kThreads; ++i) texts.push_back("query number " + std::to_string(i) + " " + long_text(size_t(i) * 3));
  std::vector<HttpResponse> got(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      ++ready;
      while (ready < kThreads) std::this_thread::yield();
      got[size_t(i)] = call(s, "POST", "/embed", json{{"inputs", texts[size_t(i)]}}.dump());
    });
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_EQ(got[size_t(i)].status, 200) << got[size_t(i)].body;
    const std::vector<float> v = floats_of(body_of(got[size_t(i)])[0]), want = direct_embed(texts[size_t(i)]);
    ASSERT_EQ(v.size(), want.size());
    EXPECT_EQ(0, std::memcmp(v.data(), want.data(), want.size() * sizeof(float))) << i;
  }
}

TEST(ServiceBatching, OverloadIs429) {
  NEED_MODELS();
  ServiceConfig cfg;
  cfg.max_concurrent_requests = 1;
  Service s(encoder(), reranker(), nullptr, cfg);
  std::vector<std::string> inputs(32, long_text(20));
  const std::string body = json{{"inputs", inputs}}.dump();
  std::atomic<int> ok{0}, overloaded{0}, other{0};
  // Rounds of 6 threads released together: while one request runs, the others find no room.
  for (int round = 0; round < 5 && overloaded == 0; ++round) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
      threads.emplace_back([&] {
        ++ready;
        while (ready < 6) std::this_thread::yield();
        const HttpResponse r = call(s, "POST", "/embed", body);
        if (r.status == 200) ++ok;
        else if (r.status == 429 && body_of(r)["error_type"] == "Overloaded" && !r.headers.empty() &&
                 r.headers[0].first == "Retry-After")
          ++overloaded;
        else ++other;
      });
    for (std::thread& t : threads) t.join();
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(overloaded, 0) << "6 threads sending 32 inputs at once with room for 1 request";
  EXPECT_EQ(other, 0);
  EXPECT_EQ(call(s, "POST", "/embed", body).status, 200) << "slots are given back";
}

// --- the Batcher alone, with a scripted engine ----------------------------------------------

namespace {
// An engine that records each call's inputs and can be held until released.
struct ScriptedEngine {
  std::mutex mu;
  std::condition_variable cv;
  bool hold = false;
  int entered = 0;
  std::vector<std::vector<std::string>> calls;
  std::vector<BatchKey> keys;
  std::string fail_on;  // an input that makes the call fail

  BatchEngine engine() {
    return [this](const BatchKey& key, const std::vector<const char*>& a, const std::vector<size_t>& a_len,
                  const std::vector<const char*>*, const std::vector<size_t>*, float* out) -> std::string {
      std::unique_lock<std::mutex> lock(mu);
      ++entered;
      cv.notify_all();
      cv.wait(lock, [&] { return !hold; });
      std::vector<std::string> in;
      for (size_t i = 0; i < a.size(); ++i) in.emplace_back(a[i], a_len[i]);
      calls.push_back(in);
      keys.push_back(key);
      for (size_t i = 0; i < a.size(); ++i) {
        if (in[i] == fail_on) return "scripted failure";
        out[2 * i] = float(in[i].size());
        out[2 * i + 1] = float(key.normalize);
      }
      return "";
    };
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu);
    hold = false;
    cv.notify_all();
  }
  void wait_entered(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered >= n; });
  }
};

BatchJob job(std::vector<std::string> texts, size_t tokens, int normalize = -1) {
  BatchJob j;
  j.texts = std::move(texts);
  j.tokens = tokens;
  j.key.normalize = normalize;
  return j;
}

void wait_depth(const Batcher& b, size_t n) {
  for (int i = 0; i < 10000 && b.queue_depth() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
}  // namespace

TEST(ServiceBatcher, MergesWhatArrivedWhileBusyGroupsByParamsAndKeepsBudget) {
  ScriptedEngine e;
  e.hold = true;
  Batcher b(e.engine(), 2, 10, nullptr, 0);
  std::vector<bertrank::server::BatchResult> res(5);
  std::thread first([&] { res[0] = b.submit(job({"first"}, 1)); });
  e.wait_entered(1);  // the worker is busy with "first"; the next four queue up
  std::vector<std::thread> rest;
  const std::vector<std::vector<std::string>> texts = {{"aa", "bbb"}, {"c"}, {"dddd"}, {"big"}};
  const int norms[] = {-1, 1, -1, -1};
  const size_t toks[] = {4, 3, 2, 50};
  for (size_t i = 0; i < 4; ++i) {
    rest.emplace_back([&, i] { res[i + 1] = b.submit(job(texts[i], toks[i], norms[i])); });
    wait_depth(b, i + 1);  // keep arrival order
  }
  EXPECT_EQ(b.queue_depth(), 4u);
  e.release();
  first.join();
  for (std::thread& t : rest) t.join();
  // Batch 2: jobs 1-3 (4 + 3 + 2 tokens <= 10) as two calls (normalize -1, then 1); batch 3:
  // the 50-token job alone (over the budget, still run).
  ASSERT_EQ(e.calls.size(), 4u);
  EXPECT_EQ(e.calls[0], (std::vector<std::string>{"first"}));
  EXPECT_EQ(e.calls[1], (std::vector<std::string>{"aa", "bbb", "dddd"}));
  EXPECT_EQ(e.keys[1].normalize, -1);
  EXPECT_EQ(e.calls[2], (std::vector<std::string>{"c"}));
  EXPECT_EQ(e.keys[2].normalize, 1);
  EXPECT_EQ(e.calls[3], (std::vector<std::string>{"big"}));
  EXPECT_EQ(b.batches(), 4u);
  // Each job got its own rows back.
  ASSERT_TRUE(res[1].ok);
  EXPECT_EQ(res[1].values, (std::vector<float>{2, -1, 3, -1}));
  EXPECT_EQ(res[2].values, (std::vector<float>{1, 1}));
  EXPECT_EQ(res[3].values, (std::vector<float>{4, -1}));
  EXPECT_EQ(res[4].values, (std::vector<float>{3, -1}));
}

TEST(ServiceBatcher, EngineErrorFailsThatCallOnlyAndTheWorkerGoesOn) {
  ScriptedEngine e;
  e.fail_on = "bad";
  Batcher b(e.engine(), 2, 100, nullptr, 0);
  const bertrank::server::BatchResult r = b.submit(job({"ok", "bad"}, 2));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "scripted failure");
  const bertrank::server::BatchResult next = b.submit(job({"fine"}, 1));
  ASSERT_TRUE(next.ok);
  EXPECT_EQ(next.values, (std::vector<float>{4, -1}));
}

TEST(ServiceBatcher, DestructorFinishesQueuedWork) {
  ScriptedEngine e;
  e.hold = true;
  std::vector<bertrank::server::BatchResult> res(3);
  std::vector<std::thread> t;
  {
    auto b = std::make_unique<Batcher>(e.engine(), 2, 1, nullptr, 0);
    for (size_t i = 0; i < 3; ++i) {
      t.emplace_back([&, i] { res[i] = b->submit(job({std::string(i + 1, 'x')}, 1)); });
      if (i == 0) e.wait_entered(1);
      else wait_depth(*b, i);
    }
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      e.release();
    });
    b.reset();  // waits for all three
    releaser.join();
  }
  for (std::thread& x : t) x.join();
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(res[i].ok) << i;
    EXPECT_EQ(res[i].values[0], float(i + 1));
  }
}

// --- search and documents over a store ------------------------------------------------------

TEST(ServiceDocuments, AddGetSearchDelete) {
  NEED_MODELS();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("bertrank_service_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    bertrank::server::StoreOptions so;
    so.index_path = (dir / "docs.idx").string();
    bertrank::server::DocumentStore store(so, *encoder());
    Service s(encoder(), reranker(), &store, ServiceConfig{});
    const json docs = {{{"text", "Paris is the capital of France."}, {"meta", {{"lang", "en"}}}},
                       {{"id", 10}, {"text", "Bananas are yellow fruit."}},
                       {{"text", "The Eiffel tower stands in Paris."}}};
    const HttpResponse add = call(s, "POST", "/documents", json{{"documents", docs}}.dump());
    ASSERT_EQ(add.status, 200) << add.body;
    const json ids = body_of(add)["ids"];
    ASSERT_EQ(ids.size(), 3u);
    EXPECT_EQ(ids[1], 10);
    EXPECT_EQ(store.size(), 3u);

    const HttpResponse get = call(s, "GET", "/documents/" + std::to_string(ids[0].get<int64_t>()));
    ASSERT_EQ(get.status, 200) << get.body;
    EXPECT_EQ(body_of(get)["text"], "Paris is the capital of France.");
    EXPECT_EQ(body_of(get)["meta"]["lang"], "en");
    EXPECT_TRUE(body_of(call(s, "GET", "/documents/10"))["meta"].is_null());
    EXPECT_EQ(call(s, "GET", "/documents/999").status, 404);
    EXPECT_EQ(call(s, "GET", "/documents/abc").status, 422);
    // An id already in the index, or twice in one request, is a conflict (409).
    EXPECT_EQ(call(s, "POST", "/documents", json{{"documents", {{{"id", 10}, {"text", "dup"}}}}}.dump()).status, 409);
    EXPECT_EQ(call(s, "POST", "/documents", R"({"documents": [{"id": 77, "text": "a"}, {"id": 77, "text": "b"}]})").status,
              409);
    EXPECT_EQ(call(s, "POST", "/documents", R"({"documents": [{"id": -1, "text": "x"}]})").status, 422);
    EXPECT_EQ(call(s, "POST", "/documents", R"({"documents": [{"text": 3}]})").status, 422);
    EXPECT_EQ(call(s, "POST", "/documents", R"({"documents": []})").status, 422);

    const std::string q = "What is the capital of France?";
    const HttpResponse sr =
        call(s, "POST", "/search", json{{"query", q}, {"k", 2}, {"return_text", true}, {"timings", true}}.dump());
    ASSERT_EQ(sr.status, 200) << sr.body;
    const json res = body_of(sr);
    ASSERT_EQ(res["results"].size(), 1u);
    ASSERT_EQ(res["results"][0].size(), 2u);
    const json top = res["results"][0][0];
    EXPECT_EQ(top["id"], ids[0]);
    EXPECT_TRUE(top["reranked"].get<bool>());
    EXPECT_EQ(top["text"], "Paris is the capital of France.");
    EXPECT_EQ(top["meta"]["lang"], "en");
    EXPECT_EQ(top["score"].get<float>(), direct_logit(q, "Paris is the capital of France."));
    EXPECT_TRUE(res["timings"].contains("rerank_ms"));
    // The same as the library's pipeline for the same request.
    bertrank_search_params p = bertrank_search_default_params();
    p.k = 2;
    p.candidates = 50;
    const auto want = store.read([&](const bertrank_index* index) {
      std::vector<bertrank_hit> h(2);
      const char* qs = q.c_str();
      EXPECT_EQ(bertrank_search(index, encoder()->get(), reranker()->get(), &qs, nullptr, 1, &p, h.data(), 2, nullptr),
                BERTRANK_OK);
      return h;
    });
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(res["results"][0][i]["id"], want[i].id);
      EXPECT_EQ(res["results"][0][i]["score"].get<float>(), want[i].score);
      EXPECT_EQ(res["results"][0][i]["first_stage_score"].get<float>(), want[i].first_stage_score);
    }

    const HttpResponse bm = call(s, "POST", "/search",
                                 json{{"queries", json::array({"bananas", "paris"})}, {"mode", "bm25"}, {"rerank", false}}.dump());
    ASSERT_EQ(bm.status, 200) << bm.body;
    EXPECT_EQ(body_of(bm)["results"].size(), 2u);
    EXPECT_EQ(body_of(bm)["results"][0][0]["id"], 10);
    EXPECT_FALSE(body_of(bm)["results"][0][0]["reranked"].get<bool>());
    EXPECT_EQ(call(s, "POST", "/search", R"({"query": "q", "mode": "sparse"})").status, 422);
    EXPECT_EQ(call(s, "POST", "/search", R"({"query": "q", "k": 0})").status, 422);
    EXPECT_EQ(call(s, "POST", "/search", R"({"query": "q", "queries": ["q"]})").status, 422);
    EXPECT_EQ(call(s, "POST", "/search", R"({})").status, 422);
    EXPECT_EQ(call(s, "POST", "/search", R"({"query": null, "queries": ["q"]})").status, 422);
    EXPECT_EQ(call(s, "POST", "/search", R"({"queries": "q"})").status, 422);

    EXPECT_EQ(body_of(call(s, "DELETE", "/documents/10"))["removed"], 1);
    EXPECT_EQ(body_of(call(s, "DELETE", "/documents/10"))["removed"], 0);
    EXPECT_EQ(call(s, "GET", "/documents/10").status, 404);
    EXPECT_EQ(store.size(), 2u);
    EXPECT_EQ(body_of(call(s, "GET", "/info"))["documents"], 2);
  }
  std::filesystem::remove_all(dir);
}
