// Regression tests of issue 13 (hardening): sizes from callers, thread counts, --candidates 0,
// exceptions inside worker threads and OpenMP regions, handles freed while a call runs, texts
// with embedded NULs, and tokenizer offsets of non-ASCII text. Each failed (crashed, hung,
// or returned a wrong result) on the code before its fix. Tiny hand-made models only.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bertrank/bertrank.h"
#include "common/checked_size.h"
#include "common/parallel_errors.h"
#include "kernels/parallel.h"
#include "model_test_util.h"
#include "retrieval/flat_index.h"
#include "retrieval/index.h"
#include "retrieval/ivf_index.h"
#include "test_paths.h"

namespace {

using bertrank::test::TinyCrossModel;
using bertrank::test::TinyModel;

std::string last() { return bertrank_last_error(); }
std::string cli() { return std::string(BERTRANK_BINARY_DIR) + "/bertrank"; }

// Runs a shell command; returns its exit status and (optionally) its standard output/error.
int run(const std::string& cmd, std::string* out = nullptr, std::string* err = nullptr) {
  const std::string dir = bertrank::test::tmp_dir("hardening_run");
  const std::string o = dir + "/out", e = dir + "/err";
  const int rc = std::system((cmd + " >" + o + " 2>" + e).c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  if (out) *out = slurp(o);
  if (err) *err = slurp(e);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

int threads_in_process() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)e;
    ++n;
  }
  return n;
}

// Models and a 6-document index (flat, with BM25) made with the CLI, once.
struct Fixture {
  std::string dir, embed, cross, index, docs;
  Fixture() {
    dir = bertrank::test::tmp_dir("hardening");
    embed = dir + "/tiny-embed.brm";
    cross = dir + "/tiny-cross.brm";
    TinyModel().write(embed);
    TinyCrossModel().write(cross);
    docs = dir + "/docs.jsonl";
    std::ofstream(docs) << "{\"id\": 1, \"text\": \"hello world\"}\n"
                           "{\"id\": 2, \"text\": \"the world\"}\n"
                           "{\"id\": 3, \"text\": \"a hello, the world.\"}\n"
                           "{\"id\": 4, \"text\": \"worlds\"}\n"
                           "{\"id\": 5, \"text\": \"hello hello\"}\n"
                           "{\"id\": 6, \"text\": \"nul\\u0000char\"}\n";
    index = dir + "/docs.bri";
    if (bertrank::test::exists(cli()))
      built = run(cli() + " index build -m " + embed + " --docs " + docs + " --bm25 -o " + index) == 0;
  }
  bool built = false;
};
const Fixture& fx() {
  static Fixture f;
  return f;
}
#define NEED_CLI()                                                                        \
  do {                                                                                    \
    if (!bertrank::test::exists(cli())) GTEST_SKIP() << "no " << cli() << " (build the bertrank target)"; \
    ASSERT_TRUE(fx().built) << "index build failed";                                      \
  } while (0)

// ---- 1. sizes from the command line and the C API ------------------------------------------

// Was: n * depth wrapped to 4 floats and write_hits wrote far past them (SIGSEGV).
TEST(Hardening, HugeCandidatesDoNotOverrunTheHeap) {
  NEED_CLI();
  std::string out, err;
  const int rc = run(cli() + " search -i " + fx().index + " -q a -q b -q c -q d -k 3 --candidates 4611686018427387905 --rerank " +
                         fx().cross,
                     &out, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(count_lines(out), 4u * 3u) << out;
  for (std::istringstream in(out); !in.eof();) {
    std::string line;
    if (!std::getline(in, line) || line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    EXPECT_GE(j["id"].get<int64_t>(), 1);
  }
}

// Was: allocated k hits per query (1e9 × 24 bytes) until out of memory.
TEST(Hardening, HugeKIsCappedAtTheIndexSize) {
  NEED_CLI();
  std::string out, err;
  ASSERT_EQ(run(cli() + " search -i " + fx().index + " -q hello -k 1000000000", &out, &err), 0) << err;
  EXPECT_EQ(count_lines(out), 6u);  // every document, once
  ASSERT_EQ(run(cli() + " search -i " + fx().index + " -q hello --mode hybrid -k 1000000000", &out, &err), 0) << err;
  EXPECT_EQ(count_lines(out), 6u);
  ASSERT_EQ(run(cli() + " search -i " + fx().index + " -q hello --mode bm25 -k 1000000000", &out, &err), 0) << err;
  EXPECT_GE(count_lines(out), 1u);
  EXPECT_LE(count_lines(out), 6u);
}

// Was: -k -1 wrapped to SIZE_MAX.
TEST(Hardening, NegativeAndZeroCountsAreRefused) {
  NEED_CLI();
  std::string err;
  EXPECT_NE(run(cli() + " search -i " + fx().index + " -q hello -k -1", nullptr, &err), 0);
  EXPECT_NE(err.find("top-k"), std::string::npos) << err;
  EXPECT_NE(run(cli() + " search -i " + fx().index + " -q hello -k 0", nullptr, &err), 0);
  EXPECT_NE(run(cli() + " search -i " + fx().index + " -q hello -t -3", nullptr, &err), 0);
}

// Was: --candidates 0 silently became 1 (one cross-encoder logit above first-stage scores).
TEST(Hardening, CandidatesZeroIsRefused) {
  NEED_CLI();
  std::string err;
  EXPECT_NE(run(cli() + " search -i " + fx().index + " -q hello --rerank " + fx().cross + " --candidates 0", nullptr, &err),
            0);
  EXPECT_NE(err.find("candidates"), std::string::npos) << err;
  EXPECT_NE(run(cli() + " search -i " + fx().index + " -q hello --candidates 5", nullptr, &err), 0);
  EXPECT_NE(err.find("--rerank"), std::string::npos) << err;
}

// The same through the C API: every reranked hit is a real document, the rest is padding.
TEST(Hardening, CApiSearchCapsCandidatesAndK) {
  NEED_CLI();
  bertrank_index* idx = nullptr;
  bertrank_model *m = nullptr, *ce = nullptr;
  ASSERT_EQ(bertrank_index_load(fx().index.c_str(), 0, &idx), BERTRANK_OK) << last();
  ASSERT_EQ(bertrank_model_load(fx().embed.c_str(), nullptr, &m), BERTRANK_OK) << last();
  ASSERT_EQ(bertrank_model_load(fx().cross.c_str(), nullptr, &ce), BERTRANK_OK) << last();
  const char* q[] = {"a", "b", "c", "d"};
  bertrank_search_params sp = bertrank_search_default_params();
  sp.k = 8;  // more than the 6 documents: padded
  sp.candidates = (size_t(1) << 62) + 1;
  sp.rescore_factor = std::numeric_limits<size_t>::max();
  std::vector<bertrank_hit> hits(4 * 8);
  ASSERT_EQ(bertrank_search(idx, m, ce, q, nullptr, 4, &sp, hits.data(), hits.size(), nullptr), BERTRANK_OK) << last();
  for (size_t i = 0; i < 4; ++i)
    for (size_t j = 0; j < 8; ++j) {
      const bertrank_hit& h = hits[i * 8 + j];
      if (j < 6) {
        EXPECT_GE(h.id, 1);
        EXPECT_EQ(h.reranked, 1);
      } else {
        EXPECT_EQ(h.id, -1);
      }
    }
  // nq * k that overflows size_t is refused, not wrapped.
  sp.k = std::numeric_limits<size_t>::max() / 2;
  sp.candidates = 0;
  EXPECT_EQ(bertrank_search(idx, m, nullptr, q, nullptr, 4, &sp, hits.data(), hits.size(), nullptr),
            BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_NE(last().find("overflows"), std::string::npos) << last();
  bertrank_model_free(ce);
  bertrank_model_free(m);
  bertrank_index_free(idx);
}

// The engine caps what it allocates at the index, whatever k is (the C++ layer under the API).
TEST(Hardening, IndexSearchMemoryBoundedByIndex) {
  using namespace bertrank::retrieval;
  for (IndexKind kind : {IndexKind::flat, IndexKind::ivf})
    for (StorageType st : {StorageType::f32, StorageType::int8}) {
      IndexOptions o;
      o.kind = kind;
      o.storage = st;
      o.nlist = 2;
      o.bm25 = true;
      Index idx(4, o, "fp", "m");
      const float v[] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0.5f, 0.5f, 0, 0};
      const int64_t ids[] = {1, 2, 3, 4};
      const std::string texts[] = {"apple banana", "banana cherry", "cherry grape", "grape melon"};
      idx.add(4, v, ids, texts, nullptr);
      const size_t k = size_t(1) << 40;  // k hits would be 24 TB; the index holds 4
      SearchParams sp;
      sp.rescore_factor = std::numeric_limits<size_t>::max();  // k * factor must not wrap
      sp.nprobe = 2;
      std::vector<std::vector<Hit>> hits;
      if (auto* f = dynamic_cast<const FlatIndex*>(idx.vectors())) hits = f->search_hits(1, v, k, sp);
      if (auto* f = dynamic_cast<const IvfIndex*>(idx.vectors())) hits = f->search_hits(1, v, k, sp);
      ASSERT_EQ(hits.size(), 1u);
      EXPECT_EQ(hits[0].size(), 4u);
      EXPECT_EQ(hits[0][0].id, 1);
      EXPECT_EQ(idx.bm25()->search("banana", k).size(), 2u);
      float s1[2];
      int64_t i1[2];
      EXPECT_THROW(idx.search_dense(std::numeric_limits<size_t>::max() / 2, v, 4, s1, i1), std::invalid_argument);
    }
}

TEST(Hardening, CheckedSizeArithmetic) {
  EXPECT_EQ(bertrank::size_mul(3, 4, "x"), 12u);
  EXPECT_THROW(bertrank::size_mul(size_t(1) << 62, 5, "n * depth"), std::invalid_argument);
  EXPECT_THROW(bertrank::size_add(std::numeric_limits<size_t>::max(), 1, "a + b"), std::invalid_argument);
  EXPECT_EQ(bertrank::sat_mul(size_t(1) << 62, 5), std::numeric_limits<size_t>::max());
  EXPECT_EQ(bertrank::sat_mul(0, std::numeric_limits<size_t>::max()), 0u);
}

// The bool forms the file readers use (common/checked_size.h), against __builtin_*_overflow.
TEST(Hardening, CheckedSizeBoolForms) {
  const uint64_t big = std::numeric_limits<uint64_t>::max();
  const uint64_t vals[] = {0, 1, 2, 3, 4, 255, 1ull << 31, 1ull << 32, (1ull << 32) + 1, 1ull << 62,
                           big / 3, big / 2, big / 2 + 1, big - 1, big};
  for (uint64_t a : vals)
    for (uint64_t b : vals) {
      uint64_t r = 7, want = 0;
      EXPECT_EQ(bertrank::mul_overflows(a, b, &r), __builtin_mul_overflow(a, b, &want)) << a << " * " << b;
      EXPECT_EQ(r, want) << a << " * " << b;
      EXPECT_EQ(bertrank::add_overflows(a, b, &r), __builtin_add_overflow(a, b, &want)) << a << " + " << b;
      EXPECT_EQ(r, want) << a << " + " << b;
      const uint32_t a32 = uint32_t(a), b32 = uint32_t(b);
      uint32_t r32 = 0, want32 = 0;
      EXPECT_EQ(bertrank::mul_overflows(a32, b32, &r32), __builtin_mul_overflow(a32, b32, &want32)) << a32 << " * " << b32;
      EXPECT_EQ(r32, want32);
    }
  uint64_t numel = 1u << 20;  // out may alias an operand, as the readers use it
  EXPECT_FALSE(bertrank::mul_overflows(numel, uint64_t(1) << 20, &numel));
  EXPECT_EQ(numel, uint64_t(1) << 40);
  EXPECT_TRUE(bertrank::mul_overflows(numel, uint64_t(1) << 24, &numel));
}

// ---- 3. thread counts ------------------------------------------------------------------------

// Was: num_threads 10000 started 10,683 threads.
TEST(Hardening, ThreadCountIsCappedAtTheCpus) {
  bertrank_model* m = nullptr;
  ASSERT_EQ(bertrank_model_load(fx().embed.c_str(), nullptr, &m), BERTRANK_OK) << last();
  std::vector<std::string> texts(512, "hello world the world, a hello.");
  std::vector<const char*> p;
  for (auto& t : texts) p.push_back(t.c_str());
  std::vector<float> out(texts.size() * 8);
  bertrank_embed_params ep = bertrank_embed_default_params();
  ep.num_threads = 10000;
  ep.max_batch_tokens = 64;  // many small batches: several GEMM and attention calls
  ASSERT_EQ(bertrank_embed(m, p.data(), nullptr, p.size(), &ep, out.data(), out.size(), nullptr), BERTRANK_OK) << last();
  const int cpus = bertrank_max_threads();
  EXPECT_GE(cpus, 1);
  // This process's threads: gtest's, OpenMP's pool (capped) and the kernel pool (capped).
  EXPECT_LE(threads_in_process(), 4 * cpus + 8) << "cpus " << cpus;
  ep.num_threads = -1;
  EXPECT_EQ(bertrank_embed(m, p.data(), nullptr, 1, &ep, out.data(), out.size(), nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
  bertrank_model_free(m);
  // ThreadScope restores the caller's setting.
  const int before = omp_get_max_threads();
  {
    bertrank::kernels::ThreadScope ts(10000);
    EXPECT_LE(omp_get_max_threads(), cpus);
  }
  EXPECT_EQ(omp_get_max_threads(), before);
}

TEST(Hardening, CliWarnsAboutTooManyThreads) {
  NEED_CLI();
  std::string out, err;
  ASSERT_EQ(run(cli() + " search -i " + fx().index + " -q hello -t 10000", &out, &err), 0) << err;
  EXPECT_NE(err.find("more than the"), std::string::npos) << err;
  EXPECT_EQ(count_lines(out), 6u);
}

// ---- 9. exceptions in worker threads and OpenMP regions ------------------------------------

// Was: a throwing task on a worker thread called std::terminate; one on the caller left the
// job (on its stack) in use by the workers and t_in_task set for good.
TEST(Hardening, ParallelForCarriesExceptionsToTheCaller) {
  for (int rep = 0; rep < 20; ++rep) {
    std::atomic<int> ran{0};
    EXPECT_THROW(bertrank::kernels::parallel_for(64, 2,
                                                 [&](int64_t t, int) {
                                                   ++ran;
                                                   std::this_thread::sleep_for(std::chrono::microseconds(50));
                                                   if (t == 5 + rep) throw std::runtime_error("task failed");
                                                 }),
                 std::runtime_error);
    EXPECT_LE(ran.load(), 64);
  }
  // Only a task on a worker thread throws (the caller's slot is 0; its tasks wait for a
  // worker to start one): was std::terminate. Needs a second CPU for the worker.
  if (bertrank::kernels::cpu_count() >= 2)
    for (int rep = 0; rep < 5; ++rep) {
      std::atomic<bool> worker_ran{false};
      EXPECT_THROW(bertrank::kernels::parallel_for(64, 2,
                                                   [&](int64_t, int slot) {
                                                     if (slot != 0) {
                                                       worker_ran = true;
                                                       throw std::runtime_error("task failed on a worker");
                                                     }
                                                     const auto t0 = std::chrono::steady_clock::now();
                                                     while (!worker_ran && std::chrono::steady_clock::now() - t0 <
                                                                               std::chrono::seconds(5))
                                                       std::this_thread::yield();
                                                   }),
                   std::runtime_error);
      EXPECT_TRUE(worker_ran.load());
    }
  // The pool still works, in parallel, after the failures.
  std::atomic<int> sum{0};
  bertrank::kernels::parallel_for(100, 2, [&](int64_t t, int) { sum += int(t); });
  EXPECT_EQ(sum.load(), 4950);
  EXPECT_EQ(bertrank::kernels::parallel_max_threads(), bertrank::kernels::clamp_threads(omp_get_max_threads()));
}

TEST(Hardening, ParallelErrorsLeaveOpenMpRegionsAsExceptions) {
  bertrank::ParallelErrors errs;
  std::atomic<int> ran{0};
#pragma omp parallel for num_threads(2)
  for (int i = 0; i < 100; ++i)
    errs.run([&] {
      ++ran;
      if (i == 37) throw std::bad_alloc();
    });
  EXPECT_TRUE(errs.failed());
  EXPECT_THROW(errs.rethrow(), std::bad_alloc);
  EXPECT_GE(ran.load(), 1);
}

// ---- 10. a handle freed while a call on another thread uses it ------------------------------

// Was: check_handle dropped its lock before the handle was used: a use-after-free (ASan).
TEST(Hardening, FreeDuringACallIsSafe) {
  for (int rep = 0; rep < 10; ++rep) {
    bertrank_model* m = nullptr;
    ASSERT_EQ(bertrank_model_load(fx().embed.c_str(), nullptr, &m), BERTRANK_OK) << last();
    std::vector<std::string> texts(2000, "hello world the world, a hello.");
    std::vector<const char*> p;
    for (auto& t : texts) p.push_back(t.c_str());
    std::vector<float> out(texts.size() * 8);
    std::atomic<bool> started{false};
    bertrank_status st = BERTRANK_ERR_INTERNAL;
    std::thread worker([&] {
      started = true;
      st = bertrank_embed(m, p.data(), nullptr, p.size(), nullptr, out.data(), out.size(), nullptr);
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(200 * rep));
    bertrank_model_free(m);
    worker.join();
    // Either the call ran to the end with the model alive, or it started after the free.
    EXPECT_TRUE(st == BERTRANK_OK || st == BERTRANK_ERR_INVALID_HANDLE) << st;
    bertrank_model_info info;
    EXPECT_EQ(bertrank_model_get_info(m, &info), BERTRANK_ERR_INVALID_HANDLE);
    bertrank_model_free(m);  // a second free is reported, not a crash
    EXPECT_NE(last().find("freed twice"), std::string::npos) << last();
  }
}

// ---- 2. what is stored is valid UTF-8, also through the C API ---------------------------------

TEST(Hardening, CApiAddStoresValidUtf8) {
  bertrank_model* m = nullptr;
  bertrank_index* idx = nullptr;
  ASSERT_EQ(bertrank_model_load(fx().embed.c_str(), nullptr, &m), BERTRANK_OK) << last();
  ASSERT_EQ(bertrank_index_create(m, nullptr, &idx), BERTRANK_OK) << last();
  const char* texts[] = {"caf\xe9 hello", "ok"};
  const int64_t ids[] = {1, 2};
  ASSERT_EQ(bertrank_index_add_texts(idx, m, ids, texts, nullptr, nullptr, 2, nullptr), BERTRANK_OK) << last();
  const char* t = nullptr;
  size_t n = 0;
  ASSERT_EQ(bertrank_index_document(idx, 1, &t, &n, nullptr), BERTRANK_OK) << last();
  EXPECT_EQ(std::string(t, n), "caf\xef\xbf\xbd hello");  // U+FFFD
  // A JSON dump of the stored text (what `search` prints) cannot fail.
  EXPECT_NO_THROW(nlohmann::json(std::string(t, n)).dump());
  bertrank_index_free(idx);
  bertrank_model_free(m);
}

// ---- 12. embedded NULs -----------------------------------------------------------------------

std::string write_vocab(const std::vector<std::string>& words) {
  const std::string p = bertrank::test::tmp_dir("hardening_vocab") + "/vocab.txt";
  std::ofstream f(p);
  for (const auto& w : words) f << w << "\n";
  return p;
}

std::vector<int32_t> tokenize(bertrank_tokenizer* t, const std::string& s, std::vector<int32_t>* offsets = nullptr) {
  int32_t ids[64], offs[128];
  size_t n = 0;
  EXPECT_EQ(bertrank_tokenize(t, s.data(), s.size(), nullptr, 0, 0, ids, nullptr, offs, 64, &n), BERTRANK_OK) << last();
  if (offsets) offsets->assign(offs, offs + 2 * n);
  return std::vector<int32_t>(ids, ids + n);
}

// Was: the text was cut at the NUL ("nu ##l"); Hugging Face drops the NUL: "nu ##lch ##ar".
TEST(Hardening, TokenizeKeepsTextAfterANul) {
  const std::string vocab =
      write_vocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "nu", "##l", "##lch", "##ar", "char", "hello"});
  bertrank_tokenizer* t = nullptr;
  ASSERT_EQ(bertrank_tokenizer_load(vocab.c_str(), &t), BERTRANK_OK) << last();
  const std::string s("nul\0char", 8);
  EXPECT_EQ(tokenize(t, s), (std::vector<int32_t>{2, 5, 7, 8, 3}));  // [CLS] nu ##lch ##ar [SEP]
  EXPECT_EQ(tokenize(t, "nul"), (std::vector<int32_t>{2, 5, 6, 3}));
  // A pair keeps both halves whole too.
  int32_t ids[64], types[64];
  size_t n = 0;
  const std::string b("x\0hello", 7);
  ASSERT_EQ(bertrank_tokenize(t, s.data(), s.size(), b.data(), b.size(), 0, ids, types, nullptr, 64, &n), BERTRANK_OK)
      << last();
  EXPECT_EQ(std::vector<int32_t>(ids, ids + n), (std::vector<int32_t>{2, 5, 7, 8, 3, 1, 3}));  // "xhello" -> [UNK]
  bertrank_tokenizer_free(t);
  // The real vocab through the CLI: Hugging Face tokenizers gives [CLS] nu ##lch ##ar [SEP].
  const std::string real = bertrank::test::weights_dir() + "/hf/all-MiniLM-L6-v2/vocab.txt";
  if (bertrank::test::exists(cli()) && bertrank::test::exists(real)) {
    const std::string in = bertrank::test::tmp_dir("hardening_vocab") + "/nul.txt";
    std::ofstream(in, std::ios::binary) << std::string("nul\0char\n", 9);
    std::string out, err;
    ASSERT_EQ(run(cli() + " tokenize -m " + real + " " + in, &out, &err), 0) << err;
    EXPECT_EQ(nlohmann::json::parse(out)["ids"], nlohmann::json::parse("[101,16371,29358,2906,102]")) << out;
  }
}

// bertrank.h said "byte" offsets; they count code points (as tokenizers' Python API).
TEST(Hardening, TokenizeOffsetsAreCodePoints) {
  const std::string vocab = write_vocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"});
  bertrank_tokenizer* t = nullptr;
  ASSERT_EQ(bertrank_tokenizer_load(vocab.c_str(), &t), BERTRANK_OK) << last();
  std::vector<int32_t> offs;
  const auto ids = tokenize(t, "h\xc3\xa9llo w\xc3\xb6rld", &offs);  // "héllo wörld": 11 characters, 13 bytes
  ASSERT_EQ(ids, (std::vector<int32_t>{2, 5, 6, 3}));
  EXPECT_EQ(offs, (std::vector<int32_t>{0, 0, 0, 5, 6, 11, 0, 0}));
  bertrank_tokenizer_free(t);
}

// Was: `index build` stored "nul" for the jsonl text "nul\u0000char", and search returned it.
TEST(Hardening, StoredTextKeepsEmbeddedNul) {
  NEED_CLI();
  bertrank_index* idx = nullptr;
  ASSERT_EQ(bertrank_index_load(fx().index.c_str(), 0, &idx), BERTRANK_OK) << last();
  const char* text = nullptr;
  size_t len = 0;
  ASSERT_EQ(bertrank_index_document(idx, 6, &text, &len, nullptr), BERTRANK_OK) << last();
  EXPECT_EQ(std::string(text, len), std::string("nul\0char", 8));
  bertrank_index_free(idx);
  std::string out, err;
  ASSERT_EQ(run(cli() + " search -i " + fx().index + " -q nul -k 6", &out, &err), 0) << err;
  bool found = false;
  for (std::istringstream in(out); !in.eof();) {
    std::string line;
    if (!std::getline(in, line) || line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    if (j["id"] == 6) {
      found = true;
      EXPECT_EQ(j["text"].get<std::string>(), std::string("nul\0char", 8));
    }
  }
  EXPECT_TRUE(found) << out;
}

}  // namespace
