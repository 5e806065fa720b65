// The public C API (include/bertrank/bertrank.h) and its C++ wrapper: results equal the
// internal API's, and misuse (NULL or freed handles, small buffers, wrong model kinds, bad
// files, bad option values) returns a clear status and message instead of crashing.
// Runs on tiny hand-made models (no weights needed); one test also uses the real
// all-MiniLM-L6-v2 when weights/ has it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bertrank/bertrank.h"
#include "bertrank/bertrank.hpp"
#include "model/cross_encoder.h"
#include "model/model.h"
#include "model_test_util.h"
#include "retrieval/index.h"
#include "test_paths.h"

namespace {

using bertrank::test::TinyModel;

std::string last() { return bertrank_last_error(); }

// A tiny bi-encoder and a tiny cross-encoder (same encoder + pooler + 2-label classifier).
struct Files {
  std::string dir, embed, cross;
  Files() {
    dir = bertrank::test::tmp_dir("c_api");
    embed = dir + "/tiny-embed.brm";
    cross = dir + "/tiny-cross.brm";
    TinyModel t;
    t.write(embed);
    bertrank::test::TinyCrossModel c;
    c.write(cross);
  }
};
const Files& files() {
  static Files f;
  return f;
}

struct Loaded {
  bertrank_model* embed = nullptr;
  bertrank_model* cross = nullptr;
  Loaded() {
    EXPECT_EQ(bertrank_model_load(files().embed.c_str(), nullptr, &embed), BERTRANK_OK) << last();
    EXPECT_EQ(bertrank_model_load(files().cross.c_str(), nullptr, &cross), BERTRANK_OK) << last();
  }
  ~Loaded() {
    bertrank_model_free(embed);
    bertrank_model_free(cross);
  }
};

TEST(CApi, VersionAndIsa) {
  EXPECT_STREQ(bertrank_version(), BERTRANK_VERSION_STRING);
  EXPECT_EQ(bertrank_version_number(),
            BERTRANK_VERSION_MAJOR * 10000 + BERTRANK_VERSION_MINOR * 100 + BERTRANK_VERSION_PATCH);
  const std::string isa = bertrank_isa();
  EXPECT_TRUE(isa == "ref" || isa == "avx2" || isa == "avx512") << isa;
  EXPECT_STREQ(bertrank_status_string(BERTRANK_ERR_BUFFER_TOO_SMALL), "buffer too small");
}

TEST(CApi, EmbedMatchesInternalApi) {
  Loaded m;
  bertrank_model_info info;
  ASSERT_EQ(bertrank_model_get_info(m.embed, &info), BERTRANK_OK) << last();
  EXPECT_EQ(info.kind, BERTRANK_MODEL_EMBEDDING);
  EXPECT_EQ(info.dim, 8);
  EXPECT_EQ(info.num_labels, 0);
  EXPECT_EQ(info.max_length, 10);
  EXPECT_STREQ(info.name, "tiny");
  EXPECT_TRUE(std::filesystem::path(info.path).is_absolute());

  const char* texts[] = {"hello world", "the worlds, a hello.", "hello hello hello hello hello hello hello hello hello"};
  std::vector<float> out(3 * 8);
  uint8_t trunc[3] = {9, 9, 9};
  ASSERT_EQ(bertrank_embed(m.embed, texts, nullptr, 3, nullptr, out.data(), out.size(), trunc), BERTRANK_OK) << last();
  EXPECT_EQ(trunc[0], 0);
  EXPECT_EQ(trunc[2], 1);  // 9 words + [CLS]/[SEP] > max_seq_length 10

  auto model = bertrank::model::Model::load(files().embed);
  bertrank::model::BiEncoder bi(model);
  std::vector<float> want(3 * 8);
  bi.embed({texts[0], texts[1], texts[2]}, want.data());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out[i], want[i]) << i;

  // Explicit lengths: a prefix of a longer buffer, and an embedded NUL byte.
  const char buf[] = "hello world and more";
  const char* p[] = {buf};
  const size_t len[] = {11};
  std::vector<float> one(8);
  ASSERT_EQ(bertrank_embed(m.embed, p, len, 1, nullptr, one.data(), one.size(), nullptr), BERTRANK_OK) << last();
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(one[i], want[i]);

  // n = 0 is a no-op, even with NULL pointers.
  EXPECT_EQ(bertrank_embed(m.embed, nullptr, nullptr, 0, nullptr, nullptr, 0, nullptr), BERTRANK_OK) << last();
}

// Inputs are sorted by length and cut into passes by the token budget inside; results come
// back in input order and do not depend on the budget or on the other inputs.
TEST(CApi, EmbedOrderAndBudgetInvariance) {
  Loaded m;
  const char* texts[] = {"hello", "the worlds, a hello. hello world", "a", "world hello the", "hello, world"};
  const size_t n = 5;
  std::vector<float> alone(n * 8);
  for (size_t i = 0; i < n; ++i)
    ASSERT_EQ(bertrank_embed(m.embed, &texts[i], nullptr, 1, nullptr, alone.data() + i * 8, 8, nullptr), BERTRANK_OK);
  for (int budget : {1, 5, 12, 8192}) {
    bertrank_embed_params ep = bertrank_embed_default_params();
    ep.max_batch_tokens = budget;
    std::vector<float> all(n * 8);
    ASSERT_EQ(bertrank_embed(m.embed, texts, nullptr, n, &ep, all.data(), all.size(), nullptr), BERTRANK_OK) << last();
    for (size_t i = 0; i < all.size(); ++i) EXPECT_NEAR(all[i], alone[i], 1e-6f) << "budget " << budget << " at " << i;
  }
}

TEST(CApi, ScoreMatchesInternalApi) {
  Loaded m;
  bertrank_model_info info;
  ASSERT_EQ(bertrank_model_get_info(m.cross, &info), BERTRANK_OK) << last();
  EXPECT_EQ(info.kind, BERTRANK_MODEL_CROSS_ENCODER);
  EXPECT_EQ(info.num_labels, 2);
  const char* docs[] = {"hello world", "the a, the a."};
  std::vector<float> out(4);
  bertrank_score_params sp = bertrank_score_default_params();
  sp.activation = BERTRANK_ACTIVATION_SOFTMAX;
  ASSERT_EQ(bertrank_score(m.cross, "hello", BERTRANK_NUL_TERMINATED, docs, nullptr, 2, &sp, out.data(), out.size()), BERTRANK_OK) << last();
  auto model = bertrank::model::Model::load(files().cross);
  bertrank::model::CrossEncoder ce(model);
  bertrank::model::ScoreOptions so;
  so.activation = bertrank::model::ScoreActivation::score_softmax;
  std::vector<float> want(4);
  ce.score("hello", {docs[0], docs[1]}, want.data(), nullptr, so);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(out[i], want[i]) << i;
  EXPECT_NEAR(out[0] + out[1], 1.0f, 1e-6f);

  const char* a[] = {"hello", "hello"};
  std::vector<float> pairs(4);
  ASSERT_EQ(bertrank_score_pairs(m.cross, a, nullptr, docs, nullptr, 2, &sp, pairs.data(), pairs.size()), BERTRANK_OK) << last();
  EXPECT_EQ(pairs, out);
}

TEST(CApi, TokenizeMatchesInternalTokenizer) {
  bertrank_tokenizer* t = nullptr;
  ASSERT_EQ(bertrank_tokenizer_load(files().embed.c_str(), &t), BERTRANK_OK) << last();
  int32_t ids[32], types[32], offs[64];
  size_t n = 0;
  ASSERT_EQ(bertrank_tokenize(t, "Hello worlds", BERTRANK_NUL_TERMINATED, "the a", BERTRANK_NUL_TERMINATED, 0, ids, types, offs, 32, &n), BERTRANK_OK) << last();
  auto tok = bertrank::model::load_model_tokenizer(files().embed);
  auto e = tok->encode_pair("Hello worlds", "the a");
  ASSERT_EQ(n, e.size());
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(ids[i], e.ids[i]);
    EXPECT_EQ(types[i], e.type_ids[i]);
    EXPECT_EQ(offs[2 * i], e.offsets[i].start);
    EXPECT_EQ(offs[2 * i + 1], e.offsets[i].end);
  }
  // Too small: the needed length is reported, nothing written.
  int32_t small[2] = {-7, -7};
  EXPECT_EQ(bertrank_tokenize(t, "Hello worlds", BERTRANK_NUL_TERMINATED, "the a", BERTRANK_NUL_TERMINATED, 0, small, nullptr, nullptr, 2, &n),
            BERTRANK_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, e.size());
  EXPECT_EQ(small[0], -7);
  EXPECT_NE(last().find("needed"), std::string::npos) << last();
  bertrank_tokenizer_free(t);

  // The model's tokenizer outlives the model handle.
  Loaded m;
  bertrank_tokenizer* mt = nullptr;
  ASSERT_EQ(bertrank_model_tokenizer(m.embed, &mt), BERTRANK_OK) << last();
  bertrank_model_free(m.embed);
  m.embed = nullptr;
  ASSERT_EQ(bertrank_tokenize(mt, "hello", BERTRANK_NUL_TERMINATED, nullptr, 0, 0, ids, nullptr, nullptr, 32, &n), BERTRANK_OK) << last();
  EXPECT_EQ(n, 3u);
  bertrank_tokenizer_free(mt);
}

TEST(CApi, NullAndFreedHandles) {
  float out[8];
  const char* texts[] = {"hello"};
  EXPECT_EQ(bertrank_embed(nullptr, texts, nullptr, 1, nullptr, out, 8, nullptr), BERTRANK_ERR_INVALID_HANDLE);
  EXPECT_NE(last().find("model is NULL"), std::string::npos) << last();

  bertrank_model* m = nullptr;
  ASSERT_EQ(bertrank_model_load(files().embed.c_str(), nullptr, &m), BERTRANK_OK) << last();
  bertrank_model_free(m);
  // Use after free: reported, not dereferenced (the registry of live handles is consulted).
  EXPECT_EQ(bertrank_embed(m, texts, nullptr, 1, nullptr, out, 8, nullptr), BERTRANK_ERR_INVALID_HANDLE);
  EXPECT_NE(last().find("already freed"), std::string::npos) << last();
  bertrank_model_info info;
  EXPECT_EQ(bertrank_model_get_info(m, &info), BERTRANK_ERR_INVALID_HANDLE);
  // Double free is ignored and reported.
  bertrank_model_free(m);
  EXPECT_NE(last().find("freed twice"), std::string::npos) << last();
  bertrank_model_free(nullptr);  // no-op

  // A handle of another type.
  bertrank_tokenizer* t = nullptr;
  ASSERT_EQ(bertrank_tokenizer_load(files().embed.c_str(), &t), BERTRANK_OK) << last();
  EXPECT_EQ(bertrank_embed(reinterpret_cast<bertrank_model*>(t), texts, nullptr, 1, nullptr, out, 8, nullptr),
            BERTRANK_ERR_INVALID_HANDLE);
  EXPECT_NE(last().find("is a bertrank_tokenizer, not a bertrank_model"), std::string::npos) << last();
  bertrank_tokenizer_free(t);

  // A pointer that was never a handle.
  int junk = 0;
  EXPECT_EQ(bertrank_index_size(reinterpret_cast<bertrank_index*>(&junk)), 0u);
  EXPECT_NE(last().find("not a live bertrank_index"), std::string::npos) << last();
}

TEST(CApi, BadArgumentsAndBuffers) {
  Loaded m;
  const char* texts[] = {"hello", "world"};
  std::vector<float> out(16);
  EXPECT_EQ(bertrank_embed(m.embed, texts, nullptr, 2, nullptr, out.data(), 15, nullptr),
            BERTRANK_ERR_BUFFER_TOO_SMALL);
  EXPECT_NE(last().find("15 elements; 16 needed"), std::string::npos) << last();
  EXPECT_EQ(bertrank_embed(m.embed, texts, nullptr, 2, nullptr, nullptr, 16, nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("out is NULL"), std::string::npos) << last();
  const char* with_null[] = {"hello", nullptr};
  EXPECT_EQ(bertrank_embed(m.embed, with_null, nullptr, 2, nullptr, out.data(), 16, nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("texts[1] is NULL"), std::string::npos) << last();
  // n * dim overflows.
  EXPECT_EQ(bertrank_embed(m.embed, texts, nullptr, SIZE_MAX / 4, nullptr, out.data(), 16, nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("overflows"), std::string::npos) << last();
  bertrank_embed_params ep = bertrank_embed_default_params();
  ep.num_threads = -1;
  EXPECT_EQ(bertrank_embed(m.embed, texts, nullptr, 2, &ep, out.data(), 16, nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
  ep = bertrank_embed_default_params();
  ep.max_batch_tokens = 0;
  EXPECT_EQ(bertrank_embed(m.embed, texts, nullptr, 2, &ep, out.data(), 16, nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
  ep = bertrank_embed_default_params();
  ep.max_length = 1000;  // beyond the model's positions
  EXPECT_EQ(bertrank_embed(m.embed, texts, nullptr, 2, &ep, out.data(), 16, nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("exceeds"), std::string::npos) << last();

  bertrank_score_params sp = bertrank_score_default_params();
  const int bad_activation = 42;  // what a C caller can store; static_cast would be UB in C++
  std::memcpy(&sp.activation, &bad_activation, sizeof bad_activation);
  EXPECT_EQ(bertrank_score(m.cross, "q", BERTRANK_NUL_TERMINATED, texts, nullptr, 2, &sp, out.data(), 16), BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("unknown activation 42"), std::string::npos) << last();
  EXPECT_EQ(bertrank_score(m.cross, "q", BERTRANK_NUL_TERMINATED, texts, nullptr, 2, nullptr, out.data(), 3), BERTRANK_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(bertrank_score(m.cross, nullptr, BERTRANK_NUL_TERMINATED, texts, nullptr, 2, nullptr, out.data(), 16), BERTRANK_ERR_INVALID_ARGUMENT);

  bertrank_model_params mp = bertrank_model_default_params();
  const int bad_precision = 9;
  std::memcpy(&mp.precision, &bad_precision, sizeof bad_precision);
  bertrank_model* x = reinterpret_cast<bertrank_model*>(&mp);
  EXPECT_EQ(bertrank_model_load(files().embed.c_str(), &mp, &x), BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(x, nullptr);  // out is cleared on failure
  EXPECT_EQ(bertrank_model_load(files().embed.c_str(), nullptr, nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
}

TEST(CApi, WrongModelKind) {
  Loaded m;
  const char* texts[] = {"hello"};
  float out[8];
  EXPECT_EQ(bertrank_embed(m.cross, texts, nullptr, 1, nullptr, out, 8, nullptr), BERTRANK_ERR_WRONG_MODEL);
  EXPECT_NE(last().find("is a cross-encoder; this call needs an embedding model"), std::string::npos) << last();
  EXPECT_EQ(bertrank_score(m.embed, "q", BERTRANK_NUL_TERMINATED, texts, nullptr, 1, nullptr, out, 8), BERTRANK_ERR_WRONG_MODEL);
  EXPECT_NE(last().find("is an embedding model; this call needs a cross-encoder"), std::string::npos) << last();
  bertrank_index* idx = nullptr;
  EXPECT_EQ(bertrank_index_create(m.cross, nullptr, &idx), BERTRANK_ERR_WRONG_MODEL);
  EXPECT_EQ(idx, nullptr);
}

TEST(CApi, BadFiles) {
  bertrank_model* m = nullptr;
  EXPECT_EQ(bertrank_model_load("/nonexistent/model.brm", nullptr, &m), BERTRANK_ERR_IO);
  EXPECT_NE(last().find("/nonexistent/model.brm"), std::string::npos) << last();
  const std::string bad = files().dir + "/truncated.brm";
  auto bytes = bertrank::test::read_bytes(files().embed);
  bytes.resize(bytes.size() / 2);
  bertrank::test::write_bytes(bad, bytes);
  EXPECT_EQ(bertrank_model_load(bad.c_str(), nullptr, &m), BERTRANK_ERR_BAD_FILE);
  EXPECT_NE(last().find("truncated.brm"), std::string::npos) << last();
  EXPECT_EQ(m, nullptr);
  // An index file given as a model, a model given as an index.
  bertrank_index* idx = nullptr;
  EXPECT_EQ(bertrank_index_load(files().embed.c_str(), 0, &idx), BERTRANK_ERR_BAD_FILE);
  EXPECT_EQ(idx, nullptr);
}

TEST(CApi, IndexSearchRerankRoundTrip) {
  Loaded m;
  bertrank_index_params ip = bertrank_index_default_params();
  ip.bm25 = 1;
  bertrank_index* idx = nullptr;
  ASSERT_EQ(bertrank_index_create(m.embed, &ip, &idx), BERTRANK_OK) << last();
  const int64_t ids[] = {10, 20, 30};
  const char* docs[] = {"hello world", "the a", "worlds, worlds."};
  const char* metas[] = {"{\"k\":1}", nullptr, ""};
  ASSERT_EQ(bertrank_index_add_texts(idx, m.embed, ids, docs, nullptr, metas, 3, nullptr), BERTRANK_OK) << last();
  EXPECT_EQ(bertrank_index_size(idx), 3u);
  // A repeated id: refused, nothing added.
  EXPECT_EQ(bertrank_index_add_texts(idx, m.embed, ids, docs, nullptr, nullptr, 1, nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bertrank_index_size(idx), 3u);
  const char *text = nullptr, *meta = nullptr;
  ASSERT_EQ(bertrank_index_document(idx, 10, &text, nullptr, &meta), BERTRANK_OK) << last();
  EXPECT_STREQ(text, "hello world");
  EXPECT_STREQ(meta, "{\"k\":1}");
  EXPECT_EQ(bertrank_index_document(idx, 99, &text, nullptr, &meta), BERTRANK_ERR_INVALID_ARGUMENT);

  const std::string path = files().dir + "/idx.bri";
  ASSERT_EQ(bertrank_index_save(idx, path.c_str()), BERTRANK_OK) << last();
  bertrank_index* back = nullptr;
  ASSERT_EQ(bertrank_index_load(path.c_str(), 1, &back), BERTRANK_OK) << last();
  EXPECT_EQ(bertrank_index_size(back), 3u);
  EXPECT_EQ(bertrank_index_dim(back), 8);
  EXPECT_EQ(std::string(bertrank_index_model_path(back)), std::filesystem::absolute(files().embed).lexically_normal().string());

  const char* queries[] = {"hello world", "worlds"};
  bertrank_search_params sp = bertrank_search_default_params();
  sp.k = 3;
  sp.mode = BERTRANK_SEARCH_HYBRID;
  std::vector<bertrank_hit> hits(6);
  ASSERT_EQ(bertrank_search(back, m.embed, nullptr, queries, nullptr, 2, &sp, hits.data(), hits.size(), nullptr), BERTRANK_OK)
      << last();
  EXPECT_EQ(hits[0].id, 10);  // the exact text, first in both lists
  for (const auto& h : hits) EXPECT_EQ(h.reranked, 0);

  // Rerank all 3 candidates: scores are the cross-encoder's first logit, sorted.
  sp.candidates = 3;
  bertrank_timings tm;
  ASSERT_EQ(bertrank_search(back, m.embed, m.cross, queries, nullptr, 2, &sp, hits.data(), hits.size(), &tm), BERTRANK_OK)
      << last();
  for (size_t q = 0; q < 2; ++q) {
    for (size_t j = 0; j < 3; ++j) {
      const bertrank_hit& h = hits[q * 3 + j];
      ASSERT_GE(h.id, 0);
      EXPECT_EQ(h.reranked, 1);
      const char* d = nullptr;
      ASSERT_EQ(bertrank_index_document(back, h.id, &d, nullptr, nullptr), BERTRANK_OK);
      float s[2];
      ASSERT_EQ(bertrank_score(m.cross, queries[q], BERTRANK_NUL_TERMINATED, &d, nullptr, 1, nullptr, s, 2), BERTRANK_OK);
      EXPECT_EQ(h.score, s[0]);
      if (j) {
        EXPECT_GE(hits[q * 3 + j - 1].score, h.score);
      }
    }
  }
  EXPECT_GE(tm.rerank_seconds, 0.0);

  // Misuse: rerank without a cross-encoder, rerank with the bi-encoder, a small buffer,
  // k = 0, BM25 on an index without BM25, an index searched with another model.
  EXPECT_EQ(bertrank_search(back, m.embed, nullptr, queries, nullptr, 2, &sp, hits.data(), hits.size(), nullptr),
            BERTRANK_ERR_INVALID_HANDLE);
  EXPECT_NE(last().find("reranker is NULL"), std::string::npos) << last();
  EXPECT_EQ(bertrank_search(back, m.embed, m.embed, queries, nullptr, 2, &sp, hits.data(), hits.size(), nullptr),
            BERTRANK_ERR_WRONG_MODEL);
  EXPECT_EQ(bertrank_search(back, m.embed, m.cross, queries, nullptr, 2, &sp, hits.data(), 5, nullptr),
            BERTRANK_ERR_BUFFER_TOO_SMALL);
  sp.k = 0;
  EXPECT_EQ(bertrank_search(back, m.embed, m.cross, queries, nullptr, 2, &sp, hits.data(), hits.size(), nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);

  TinyModel other;
  other.meta["source"]["fingerprint"] = "sha256:other";
  const std::string other_path = files().dir + "/other.brm";
  other.write(other_path);
  bertrank_model* om = nullptr;
  ASSERT_EQ(bertrank_model_load(other_path.c_str(), nullptr, &om), BERTRANK_OK) << last();
  sp = bertrank_search_default_params();
  EXPECT_EQ(bertrank_search(back, om, nullptr, queries, nullptr, 2, &sp, hits.data(), 20, nullptr), BERTRANK_ERR_WRONG_MODEL);
  EXPECT_EQ(bertrank_index_add_texts(back, om, ids, docs, nullptr, nullptr, 1, nullptr), BERTRANK_ERR_WRONG_MODEL);
  EXPECT_EQ(bertrank_index_check_model(back, om), BERTRANK_ERR_WRONG_MODEL);
  EXPECT_NE(last().find("sha256:other"), std::string::npos) << last();
  EXPECT_EQ(bertrank_index_check_model(back, m.embed), BERTRANK_OK) << last();
  bertrank_model_free(om);

  bertrank_index* plain = nullptr;
  ASSERT_EQ(bertrank_index_create(m.embed, nullptr, &plain), BERTRANK_OK) << last();
  sp.mode = BERTRANK_SEARCH_BM25;
  EXPECT_EQ(bertrank_search(plain, nullptr, nullptr, queries, nullptr, 2, &sp, hits.data(), 20, nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("no BM25"), std::string::npos) << last();

  size_t removed = 0;
  const int64_t rm[] = {20, 99};
  ASSERT_EQ(bertrank_index_remove(back, rm, 2, &removed), BERTRANK_OK) << last();
  EXPECT_EQ(removed, 1u);
  EXPECT_EQ(bertrank_index_save(back, "/nonexistent-dir/x.bri"), BERTRANK_ERR_IO);
  bertrank_index_free(plain);
  bertrank_index_free(back);
  bertrank_index_free(idx);
}

// bertrank_index_get_info reports what the index holds, as the internal Index::info() does.
TEST(CApi, IndexInfo) {
  Loaded m;
  bertrank_index_params ip = bertrank_index_default_params();
  ip.bm25 = 1;
  ip.bm25_k1 = 0.9f;
  ip.bm25_b = 0.4f;
  ip.bm25_stopwords = 0;
  ip.storage = BERTRANK_STORAGE_INT8;
  bertrank_index* flat = nullptr;
  ASSERT_EQ(bertrank_index_create(m.embed, &ip, &flat), BERTRANK_OK) << last();
  const int64_t ids[] = {1, 2, 3, 4, 5};
  const char* docs[] = {"hello world", "the a", "worlds, worlds.", "a hello", "the world"};
  ASSERT_EQ(bertrank_index_add_texts(flat, m.embed, ids, docs, nullptr, nullptr, 5, nullptr), BERTRANK_OK) << last();
  const std::string path = files().dir + "/info.bri";
  ASSERT_EQ(bertrank_index_save(flat, path.c_str()), BERTRANK_OK) << last();

  bertrank_index_info i;
  std::memset(&i, 0xff, sizeof i);
  ASSERT_EQ(bertrank_index_get_info(flat, &i), BERTRANK_OK) << last();
  EXPECT_EQ(i.documents, 5u);
  EXPECT_EQ(i.dim, 8);
  EXPECT_EQ(i.type, BERTRANK_INDEX_FLAT);
  EXPECT_EQ(i.storage, BERTRANK_STORAGE_INT8);
  EXPECT_EQ(i.rescore, 1);
  EXPECT_EQ(i.nlist, 0u);  // flat
  EXPECT_EQ(i.nprobe, 0u);
  EXPECT_EQ(i.bm25, 1);
  EXPECT_EQ(i.bm25_k1, 0.9f);
  EXPECT_EQ(i.bm25_b, 0.4f);
  EXPECT_EQ(i.bm25_stopwords, 0);
  bertrank_model_info mi;
  ASSERT_EQ(bertrank_model_get_info(m.embed, &mi), BERTRANK_OK);
  EXPECT_STREQ(i.model_fingerprint, mi.fingerprint);
  EXPECT_STREQ(i.model_path, bertrank_index_model_path(flat));

  // The loaded file reports the same, and matches the internal summary field by field.
  bertrank_index* back = nullptr;
  ASSERT_EQ(bertrank_index_load(path.c_str(), 1, &back), BERTRANK_OK) << last();
  bertrank_index_info b;
  ASSERT_EQ(bertrank_index_get_info(back, &b), BERTRANK_OK) << last();
  const auto j = bertrank::retrieval::Index::load(path).info();
  EXPECT_EQ(b.documents, j["documents"].get<size_t>());
  EXPECT_EQ(size_t(b.dim), j["dim"].get<size_t>());
  EXPECT_EQ(j["type"], "flat");
  EXPECT_EQ(j["storage"], "int8");
  EXPECT_EQ(b.rescore != 0, j["rescore"].get<bool>());
  EXPECT_EQ(b.bm25_vocabulary, j["bm25"]["vocabulary"].get<size_t>());
  EXPECT_GT(b.bm25_vocabulary, 0u);
  EXPECT_EQ(b.bm25_k1, i.bm25_k1);
  EXPECT_EQ(b.bm25_b, i.bm25_b);
  EXPECT_EQ(std::string(b.model_fingerprint), j["model"]["fingerprint"].get<std::string>());
  EXPECT_EQ(std::string(b.model_path), j["model"]["path"].get<std::string>());

  // IVF without BM25: lists as created before the first add, as trained after it.
  ip = bertrank_index_default_params();
  ip.type = BERTRANK_INDEX_IVF;
  ip.nlist = 2;
  ip.nprobe = 1;
  bertrank_index* ivf = nullptr;
  ASSERT_EQ(bertrank_index_create(m.embed, &ip, &ivf), BERTRANK_OK) << last();
  ASSERT_EQ(bertrank_index_get_info(ivf, &i), BERTRANK_OK) << last();
  EXPECT_EQ(i.documents, 0u);
  EXPECT_EQ(i.type, BERTRANK_INDEX_IVF);
  EXPECT_EQ(i.storage, BERTRANK_STORAGE_F32);
  EXPECT_EQ(i.rescore, 0);
  EXPECT_EQ(i.nlist, 2u);
  EXPECT_EQ(i.nprobe, 1u);
  EXPECT_EQ(i.bm25, 0);
  EXPECT_EQ(i.bm25_k1, 0.f);
  EXPECT_EQ(i.bm25_vocabulary, 0u);
  ASSERT_EQ(bertrank_index_add_texts(ivf, m.embed, ids, docs, nullptr, nullptr, 5, nullptr), BERTRANK_OK) << last();
  ASSERT_EQ(bertrank_index_get_info(ivf, &i), BERTRANK_OK) << last();
  EXPECT_EQ(i.documents, 5u);
  EXPECT_EQ(i.nlist, 2u);
  EXPECT_EQ(i.nprobe, 1u);

  EXPECT_EQ(bertrank_index_get_info(ivf, nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("out_info"), std::string::npos) << last();
  EXPECT_EQ(bertrank_index_get_info(nullptr, &i), BERTRANK_ERR_INVALID_HANDLE);
  EXPECT_EQ(bertrank_index_get_info(reinterpret_cast<const bertrank_index*>(m.embed), &i), BERTRANK_ERR_INVALID_HANDLE);
  bertrank_index_free(ivf);
  bertrank_index_free(back);
  bertrank_index_free(flat);
}

// bertrank_search_runs: each run's hits are exactly what bertrank_search returns for it (the
// shared first stages and pair scores change nothing), and misuse names the run.
TEST(CApi, SearchRunsEqualSingleSearches) {
  Loaded m;
  bertrank_index_params ip = bertrank_index_default_params();
  ip.bm25 = 1;
  bertrank_index* idx = nullptr;
  ASSERT_EQ(bertrank_index_create(m.embed, &ip, &idx), BERTRANK_OK) << last();
  const char* words[] = {"hello", "world", "the", "a", "worlds", "hello world", "a hello", "the world"};
  std::vector<std::string> texts;
  std::vector<int64_t> ids;
  for (int i = 0; i < 24; ++i) {
    texts.push_back(std::string(words[i % 8]) + " " + words[(i * 5 + 3) % 8] + " " + words[(i * 3 + 1) % 8]);
    ids.push_back(100 + i);
  }
  std::vector<const char*> tp;
  for (const auto& t : texts) tp.push_back(t.c_str());
  ASSERT_EQ(bertrank_index_add_texts(idx, m.embed, ids.data(), tp.data(), nullptr, nullptr, ids.size(), nullptr),
            BERTRANK_OK)
      << last();

  const char* queries[] = {"hello world", "the worlds", "a hello"};
  const size_t nq = 3;
  std::vector<bertrank_search_params> runs;
  for (bertrank_search_mode mode : {BERTRANK_SEARCH_BM25, BERTRANK_SEARCH_DENSE, BERTRANK_SEARCH_HYBRID})
    for (size_t cand : {0, 3, 10, 40}) {
      bertrank_search_params sp = bertrank_search_default_params();
      sp.mode = mode;
      sp.k = 12;
      sp.candidates = cand;
      runs.push_back(sp);
    }
  runs.push_back(runs[5]);  // dense @3 again, with another k and another activation
  runs.back().k = 2;
  runs.back().rerank.activation = BERTRANK_ACTIVATION_SIGMOID;
  runs.push_back(runs[9]);  // hybrid @3 with k below the candidates
  runs.back().k = 1;
  size_t total = 0;
  for (const auto& r : runs) total += nq * r.k;
  std::vector<bertrank_hit> all(total);
  bertrank_timings tm;
  ASSERT_EQ(bertrank_search_runs(idx, m.embed, m.cross, queries, nullptr, nq, runs.data(), runs.size(), all.data(),
                                 all.size(), &tm),
            BERTRANK_OK)
      << last();
  size_t at = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    std::vector<bertrank_hit> one(nq * runs[r].k);
    ASSERT_EQ(bertrank_search(idx, m.embed, m.cross, queries, nullptr, nq, &runs[r], one.data(), one.size(), nullptr),
              BERTRANK_OK)
        << last();
    size_t reranked = 0;
    for (size_t h = 0; h < one.size(); ++h, ++at) {
      SCOPED_TRACE("run " + std::to_string(r) + " hit " + std::to_string(h));
      EXPECT_EQ(all[at].id, one[h].id);
      EXPECT_EQ(all[at].score, one[h].score);
      EXPECT_EQ(all[at].first_stage_score, one[h].first_stage_score);
      EXPECT_EQ(all[at].reranked, one[h].reranked);
      reranked += size_t(one[h].reranked);
    }
    if (runs[r].candidates > 0) {
      EXPECT_GT(reranked, 0u) << "run " << r;
    }
  }
  EXPECT_EQ(at, total);
  EXPECT_GE(tm.rerank_seconds, 0.0);

  // No runs: nothing to do. Misuse names the run.
  EXPECT_EQ(bertrank_search_runs(idx, m.embed, m.cross, queries, nullptr, nq, runs.data(), 0, nullptr, 0, nullptr),
            BERTRANK_OK)
      << last();
  EXPECT_EQ(bertrank_search_runs(idx, m.embed, m.cross, queries, nullptr, nq, nullptr, 2, all.data(), all.size(), nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bertrank_search_runs(idx, m.embed, m.cross, queries, nullptr, nq, runs.data(), runs.size(), all.data(),
                                 total - 1, nullptr),
            BERTRANK_ERR_BUFFER_TOO_SMALL);
  runs[2].k = 0;
  EXPECT_EQ(bertrank_search_runs(idx, m.embed, m.cross, queries, nullptr, nq, runs.data(), runs.size(), all.data(),
                                 all.size(), nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("runs[2]: k must be > 0"), std::string::npos) << last();
  runs[2].k = 12;
  runs[3].rerank.max_length = -1;
  EXPECT_EQ(bertrank_search_runs(idx, m.embed, m.cross, queries, nullptr, nq, runs.data(), runs.size(), all.data(),
                                 all.size(), nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("runs[3]: "), std::string::npos) << last();
  runs[3].rerank.max_length = 0;
  EXPECT_EQ(bertrank_search_runs(idx, m.embed, nullptr, queries, nullptr, nq, runs.data(), runs.size(), all.data(),
                                 all.size(), nullptr),
            BERTRANK_ERR_INVALID_HANDLE);
  EXPECT_NE(last().find("reranker is NULL"), std::string::npos) << last();

  // The C++ wrapper: [run][query], each as search() returns it.
  bertrank::Model enc(files().embed), ce(files().cross);
  bertrank::Index x;
  {
    bertrank::Index made(enc, ip);
    std::vector<std::string> t(texts.begin(), texts.end());
    made.add(enc, ids, t);
    x = std::move(made);
  }
  const std::vector<std::string> qv(queries, queries + nq);
  const auto res = x.search_runs(qv, &enc, &ce, runs);
  ASSERT_EQ(res.size(), runs.size());
  for (size_t r = 0; r < runs.size(); ++r) {
    const auto want = x.search(qv, &enc, &ce, runs[r]);
    ASSERT_EQ(res[r].size(), nq);
    for (size_t q = 0; q < nq; ++q) {
      ASSERT_EQ(res[r][q].size(), want[q].size()) << "run " << r;
      for (size_t h = 0; h < want[q].size(); ++h) {
        EXPECT_EQ(res[r][q][h].id, want[q][h].id);
        EXPECT_EQ(res[r][q][h].score, want[q][h].score);
        EXPECT_EQ(res[r][q][h].reranked, want[q][h].reranked);
      }
    }
  }
  EXPECT_EQ(x.info().documents, 24u);
  bertrank_index_free(idx);
}

TEST(CApi, OneModelManyThreads) {
  Loaded m;
  const char* texts[] = {"hello world", "the a worlds", "hello, hello."};
  std::vector<float> want(24);
  ASSERT_EQ(bertrank_embed(m.embed, texts, nullptr, 3, nullptr, want.data(), want.size(), nullptr), BERTRANK_OK);
  std::vector<std::thread> th;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t)
    th.emplace_back([&, t] {
      std::vector<float> out(24);
      bool same = true;
      for (int r = 0; r < 20; ++r) {
        if (bertrank_embed(m.embed, texts, nullptr, 3, nullptr, out.data(), out.size(), nullptr) != BERTRANK_OK)
          same = false;
        same = same && out == want;
      }
      ok[size_t(t)] = same ? 1 : 0;
    });
  for (auto& x : th) x.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(ok[size_t(t)], 1) << "thread " << t;
}

TEST(CApi, CppWrapper) {
  bertrank::Model enc(files().embed);
  EXPECT_EQ(enc.dim(), 8);
  std::vector<float> e = enc.embed({"hello world", "the a"});
  ASSERT_EQ(e.size(), 16u);
  bertrank::Model ce(files().cross);
  std::vector<float> s = ce.score("hello", {"hello world", "the a"});
  EXPECT_EQ(s.size(), 4u);
  try {
    enc.score("q", {"d"});
    FAIL() << "expected bertrank::Error";
  } catch (const bertrank::Error& err) {
    EXPECT_EQ(err.status(), BERTRANK_ERR_WRONG_MODEL);
    EXPECT_NE(std::string(err.what()).find("cross-encoder"), std::string::npos);
  }
  EXPECT_THROW(bertrank::Model("/nonexistent.brm"), bertrank::Error);
  std::string many;
  for (int i = 0; i < 70; ++i) many += "hello ";
  bertrank::Encoding tok = enc.tokenizer().encode(many);
  EXPECT_EQ(tok.ids.size(), 72u);  // grows past its first 64-entry buffer
  EXPECT_EQ(tok.offsets.size(), 144u);

  bertrank::Index idx(enc);
  idx.add(enc, {1, 2}, {"hello world", "the a"});
  EXPECT_EQ(idx.size(), 2u);
  bertrank_search_params sp = bertrank_search_default_params();
  sp.k = 2;
  sp.candidates = 2;
  auto hits = idx.search({"hello"}, &enc, &ce, sp);
  ASSERT_EQ(hits.size(), 1u);
  ASSERT_EQ(hits[0].size(), 2u);
  EXPECT_TRUE(hits[0][0].reranked);
  bertrank::Model moved = std::move(enc);
  EXPECT_EQ(enc.get(), nullptr);
  EXPECT_EQ(moved.dim(), 8);
}

TEST(CApi, RealModelWhenPresent) {
  const std::string path = bertrank::test::weights_dir() + "/all-MiniLM-L6-v2.brm";
  if (!bertrank::test::exists(path)) GTEST_SKIP() << path << " not found (run ./scripts/setup.sh)";
  bertrank::Model enc(path);
  std::vector<float> e = enc.embed({"hello world"});
  // The published all-MiniLM-L6-v2 value for "hello world" (see test_model_parity.cpp).
  const float want[] = {-0.034478f, 0.03102f, 0.00673f, 0.02611f, -0.039362f};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(e[size_t(i)], want[i], 1e-3f);
}

}  // namespace
