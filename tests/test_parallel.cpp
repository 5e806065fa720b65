// The task pool (kernels/parallel.h) under concurrent callers, as a server calling the C API
// from many threads uses it: a second caller gets workers while a first one is busy, every
// task runs once with in-range distinct slots, an exception reaches only its own caller, and
// concurrent C API calls give bit-identical results to the same calls made one at a time.
// Each test has a watchdog: a hang aborts with the test's name instead of stalling ctest.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bertrank/bertrank.h"
#include "kernels/parallel.h"
#include "model_test_util.h"
#include "test_paths.h"

namespace {

namespace bk = bertrank::kernels;
using Clock = std::chrono::steady_clock;

// Aborts the process (with a message) if not destroyed within `limit`.
class Watchdog {
 public:
  Watchdog(const char* what, std::chrono::seconds limit)
      : th_([this, what, limit] {
          std::unique_lock<std::mutex> lk(mu_);
          if (!cv_.wait_for(lk, limit, [&] { return done_; })) {
            std::fprintf(stderr, "watchdog: %s did not finish within %lld s (a hang)\n", what,
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    th_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread th_;
};

// Waits (sleeping in small steps) until pred() or the deadline; returns pred().
template <typename P>
bool wait_until(P pred, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!pred() && Clock::now() < end) std::this_thread::sleep_for(std::chrono::microseconds(200));
  return pred();
}

// 1. Caller A is inside one of its own tasks (blocked there), its other tasks are done, so
// the worker is free; caller B must still get a worker. The old pool (one job at a time,
// taken with try_lock) ran B serially on its own thread: one distinct thread.
TEST(Parallel, SecondCallerGetsWorkersWhileFirstIsBlockedInItsTask) {
  if (bk::cpu_count() < 2) GTEST_SKIP() << "needs 2 CPUs (a worker besides the caller), have " << bk::cpu_count();
  Watchdog dog("SecondCallerGetsWorkersWhileFirstIsBlockedInItsTask", std::chrono::seconds(120));
  const int64_t na = 64;
  std::atomic<bool> a_blocked{false}, release_a{false};
  std::atomic<int64_t> a_ran{0};
  std::thread a([&] {
    const auto me = std::this_thread::get_id();
    bk::parallel_for(na, 2, [&](int64_t, int) {
      if (std::this_thread::get_id() == me) {
        if (!a_blocked.exchange(true)) wait_until([&] { return release_a.load(); }, std::chrono::seconds(60));
      } else {
        // A worker: leave a task for the caller to block in before taking the rest.
        wait_until([&] { return a_blocked.load(); }, std::chrono::seconds(10));
      }
      ++a_ran;
    });
  });
  ASSERT_TRUE(wait_until([&] { return a_blocked.load(); }, std::chrono::seconds(20)));
  // Every task but the blocked one ran (on the worker): the worker is free again.
  const bool others_done = wait_until([&] { return a_ran.load() == na - 1; }, std::chrono::seconds(20));

  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> distinct{0};
  std::atomic<int64_t> b_ran{0};
  const auto b_start = Clock::now();
  bk::parallel_for(200, 2, [&](int64_t, int) {
    {
      std::lock_guard<std::mutex> lk(mu);
      ids.insert(std::this_thread::get_id());
      distinct = int(ids.size());
    }
    // Hold the first task(s) until a second thread has joined (or 5 s passed).
    wait_until([&] { return distinct.load() >= 2; },
               std::chrono::duration_cast<std::chrono::milliseconds>(b_start + std::chrono::seconds(5) - Clock::now()));
    ++b_ran;
  });
  release_a = true;
  a.join();
  EXPECT_TRUE(others_done) << "A's other tasks did not finish: " << a_ran.load() << " of " << na - 1;
  EXPECT_EQ(a_ran.load(), na);
  EXPECT_EQ(b_ran.load(), 200);
  EXPECT_GE(distinct.load(), 2) << "the second caller ran alone while the first was blocked in its task";
}

// 2. Many callers at once, various task and thread counts, nested calls inside tasks.
TEST(Parallel, ManyConcurrentCallersRunEveryTaskOnceWithDistinctSlots) {
  Watchdog dog("ManyConcurrentCallersRunEveryTaskOnceWithDistinctSlots", std::chrono::seconds(300));
  const int64_t sizes[] = {1, 2, 3, 5, 17, 64, 257, 1000};
  const int thread_counts[] = {0, 1, 2, 3, 8};
  const int ncallers = 8, calls = 150;
  std::vector<std::string> errors(ncallers);
  std::atomic<int64_t> multi_thread_calls{0};
  std::vector<std::thread> th;
  for (int c = 0; c < ncallers; ++c)
    th.emplace_back([&, c] {
      std::string& err = errors[size_t(c)];
      for (int r = 0; r < calls && err.empty(); ++r) {
        const int64_t n = sizes[size_t(r + c) % 8];
        const int req = thread_counts[size_t(r * 3 + c) % 5];
        int bound = req > 0 ? bk::clamp_threads(req) : bk::parallel_max_threads();
        if (int64_t(bound) > n) bound = int(n);
        std::unique_ptr<std::atomic<int>[]> hits(new std::atomic<int>[size_t(n)]());
        std::unique_ptr<std::atomic<int>[]> busy(new std::atomic<int>[size_t(bound)]());
        std::atomic<int> bad_slot{-1}, overlap{-1}, bad_nested{0};
        std::mutex ids_mu;
        std::set<std::thread::id> ids;
        bk::parallel_for(n, req, [&](int64_t t, int slot) {
          if (slot < 0 || slot >= bound) {
            bad_slot = slot;
          } else if (busy[size_t(slot)].exchange(1) != 0) {
            overlap = slot;
          }
          hits[size_t(t)].fetch_add(1);
          {
            std::lock_guard<std::mutex> lk(ids_mu);
            ids.insert(std::this_thread::get_id());
          }
          volatile double x = 0;  // a little work, uneven across tasks
          for (int i = 0; i < int(t % 7) * 200; ++i) x = x + 1e-9;
          if (t % 97 == 3) {  // a nested call runs serially on this thread, slot 0
            const auto me = std::this_thread::get_id();
            int count = 0;
            bk::parallel_for(5, 0, [&](int64_t, int s) {
              if (s != 0 || std::this_thread::get_id() != me) bad_nested = 1;
              ++count;
            });
            if (count != 5) bad_nested = 1;
          }
          if (slot >= 0 && slot < bound) busy[size_t(slot)].store(0);
        });
        for (int64_t t = 0; t < n && err.empty(); ++t)
          if (hits[size_t(t)].load() != 1)
            err = "task " + std::to_string(t) + " of " + std::to_string(n) + " ran " + std::to_string(hits[size_t(t)].load()) + " times";
        if (bad_slot.load() != -1) err = "slot " + std::to_string(bad_slot.load()) + " outside [0, " + std::to_string(bound) + ")";
        if (overlap.load() != -1) err = "slot " + std::to_string(overlap.load()) + " used by two running tasks of one call";
        if (bad_nested.load()) err = "a nested parallel_for did not run serially on its thread";
        if (int(ids.size()) > bound) err = std::to_string(ids.size()) + " threads for a call of at most " + std::to_string(bound);
        if (ids.size() > 1) ++multi_thread_calls;
      }
    });
  for (auto& t : th) t.join();
  for (int c = 0; c < ncallers; ++c) EXPECT_EQ(errors[size_t(c)], "") << "caller " << c;
  std::printf("calls that used more than one thread: %lld of %d\n", static_cast<long long>(multi_thread_calls.load()),
              ncallers * calls);
}

// 3. A throwing task's exception goes to its own caller only; other callers finish normally.
TEST(Parallel, ExceptionReachesOnlyItsOwnCaller) {
  Watchdog dog("ExceptionReachesOnlyItsOwnCaller", std::chrono::seconds(300));
  const int ncallers = 6, rounds = 60;
  const int64_t n = 200;
  std::vector<std::string> errors(ncallers);
  std::vector<std::thread> th;
  for (int c = 0; c < ncallers; ++c)
    th.emplace_back([&, c] {
      const bool thrower = c % 3 == 0;  // callers 0 and 3 throw every round
      std::string& err = errors[size_t(c)];
      for (int r = 0; r < rounds && err.empty(); ++r) {
        std::atomic<int64_t> ran{0};
        const int64_t bad = (r * 37 + c) % n;
        try {
          bk::parallel_for(n, 0, [&](int64_t t, int) {
            ++ran;
            volatile double x = 0;
            for (int i = 0; i < 300; ++i) x = x + 1e-9;
            if (thrower && t == bad) throw std::runtime_error("caller " + std::to_string(c));
          });
          if (thrower) err = "no exception in round " + std::to_string(r);
          else if (ran.load() != n) err = std::to_string(ran.load()) + " of " + std::to_string(n) + " tasks ran";
        } catch (const std::runtime_error& e) {
          if (!thrower || e.what() != "caller " + std::to_string(c))
            err = std::string("got another caller's exception: ") + e.what();
          else if (ran.load() > n)
            err = "tasks ran more than once";
        }
      }
    });
  for (auto& t : th) t.join();
  for (int c = 0; c < ncallers; ++c) EXPECT_EQ(errors[size_t(c)], "") << "caller " << c;
}

// ---- 4. The C API from concurrent threads ------------------------------------------------

// A bi-encoder wide enough for the kernels to use the pool (hidden 128, 2 layers; the tiny
// test model's GEMMs are all below the threading threshold), or with a 1-label classifier.
struct WideModel : bertrank::test::TinyModel {
  explicit WideModel(bool cross) {
    const int H = 128, F = 512, P = 64, layers = 2;
    std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (const char* w : {"the", "a", "of", "cell", "blood", "pressure", "heart", "lung", "acid", "renal", "liver",
                          "patients", "study", "effect", "dose", "high", "low", "cancer", "tissue", "protein",
                          "##s", "##ed", ",", "."})
      vocab.push_back(w);
    const int V = int(vocab.size());
    meta["config"]["hidden_size"] = H;
    meta["config"]["num_hidden_layers"] = layers;
    meta["config"]["num_attention_heads"] = 4;
    meta["config"]["intermediate_size"] = F;
    meta["config"]["vocab_size"] = V;
    meta["config"]["max_position_embeddings"] = P;
    meta["tokenizer"]["vocab"] = vocab;
    meta["tokenizer"]["model_max_length"] = P;
    meta["head"] = {{"type", "embedding"}, {"pooling", "mean"}, {"normalize", true}, {"max_seq_length", P}, {"dim", H}};
    meta["source"] = {{"name", "wide"}, {"fingerprint", "sha256:wide"}, {"converter", "test"}};
    if (cross) {
      meta["architecture"] = "BertForSequenceClassification";
      meta["head"] = {{"type", "classifier"}, {"num_labels", 1}, {"max_seq_length", P},
                      {"id2label", {{"0", "LABEL_0"}}}};
      meta["source"]["fingerprint"] = "sha256:wide-cross";
    }
    tensors.clear();
    uint64_t s = cross ? 777 : 4242;
    using U = uint64_t;
    auto add = [&](const std::string& name, std::vector<U> shape, float scale, float center = 0.0f) {
      U numel = 1;
      for (U d : shape) numel *= d;
      std::vector<float> v(static_cast<size_t>(numel));
      for (auto& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x = center + scale * (float((s >> 40) & 0xffff) / 32768.0f - 1.0f);
      }
      tensors[name] = {shape, std::move(v)};
    };
    bertrank::test::add_bert_encoder_tensors(add, layers, H, F, V, P, 0.1f, 0.05f);
    if (cross) {
      add("pooler.dense.weight", {U(H), U(H)}, 0.1f);
      add("pooler.dense.bias", {U(H)}, 0.05f);
      add("classifier.weight", {1, U(H)}, 0.1f);
      add("classifier.bias", {1}, 0.05f);
    }
  }
};

const std::string& wide_model_path(bool cross) {
  static const std::string embed = [] {
    const std::string p = bertrank::test::tmp_dir("parallel") + "/wide-embed.brm";
    WideModel(false).write(p);
    return p;
  }();
  static const std::string cross_path = [] {
    const std::string p = bertrank::test::tmp_dir("parallel") + "/wide-cross.brm";
    WideModel(true).write(p);
    return p;
  }();
  return cross ? cross_path : embed;
}

// Texts of different lengths (so concurrent calls have different task splits), from a fixed
// word list: deterministic, and every word is in the wide model's vocabulary.
std::vector<std::string> make_texts(size_t n) {
  const char* words[] = {"the", "cell", "blood", "pressure", "heart", "lung", "acid", "renal", "liver", "patients",
                         "study", "effect", "dose", "high", "low", "cancer", "tissue", "protein", "of", "a"};
  std::vector<std::string> out;
  uint64_t s = 99;
  for (size_t i = 0; i < n; ++i) {
    std::string t;
    const size_t len = 3 + (i * 7) % 40;
    for (size_t w = 0; w < len; ++w) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      if (w) t += ' ';
      t += words[(s >> 33) % 20];
    }
    out.push_back(t + ".");
  }
  return out;
}

// One call: embed (bi-encoder) or score against a query (cross-encoder) a batch of texts.
struct Call {
  std::vector<const char*> texts;
  const char* query = nullptr;
};

bool run_call(const bertrank_model* m, bool cross, const Call& c, int num_threads, size_t out_floats,
              std::vector<float>& out) {
  out.assign(out_floats, 0.0f);
  if (cross) {
    bertrank_score_params p = bertrank_score_default_params();
    p.num_threads = num_threads;
    return bertrank_score(m, c.query, BERTRANK_NUL_TERMINATED, c.texts.data(), nullptr, c.texts.size(), &p,
                          out.data(), out.size()) == BERTRANK_OK;
  }
  bertrank_embed_params p = bertrank_embed_default_params();
  p.num_threads = num_threads;
  return bertrank_embed(m, c.texts.data(), nullptr, c.texts.size(), &p, out.data(), out.size(), nullptr) ==
         BERTRANK_OK;
}

// Sequential results (1 thread and the default) must agree bit for bit, and 1, 2 and 4
// threads calling concurrently (each its own calls, default thread count) must reproduce them.
void check_concurrent_calls(const std::string& path, size_t ncalls, size_t batch, int rounds) {
  Watchdog dog("concurrent C API calls", std::chrono::seconds(500));
  bertrank_model* m = nullptr;
  ASSERT_EQ(bertrank_model_load(path.c_str(), nullptr, &m), BERTRANK_OK) << bertrank_last_error();
  bertrank_model_info info{};
  ASSERT_EQ(bertrank_model_get_info(m, &info), BERTRANK_OK);
  const bool cross = info.kind == BERTRANK_MODEL_CROSS_ENCODER;
  const size_t per_text = cross ? size_t(info.num_labels) : size_t(info.dim);
  const std::vector<std::string> texts = make_texts(ncalls * batch + ncalls);
  std::vector<Call> calls(ncalls);
  for (size_t i = 0; i < ncalls; ++i) {
    for (size_t j = 0; j < batch; ++j) calls[i].texts.push_back(texts[i * batch + j].c_str());
    calls[i].query = texts[ncalls * batch + i].c_str();
  }
  const size_t out_floats = batch * per_text;
  std::vector<std::vector<float>> want(ncalls), other;
  for (size_t i = 0; i < ncalls; ++i) ASSERT_TRUE(run_call(m, cross, calls[i], 1, out_floats, want[i])) << bertrank_last_error();
  std::vector<float> out;
  for (size_t i = 0; i < ncalls; ++i) {
    ASSERT_TRUE(run_call(m, cross, calls[i], 0, out_floats, out)) << bertrank_last_error();
    ASSERT_EQ(std::memcmp(out.data(), want[i].data(), out_floats * sizeof(float)), 0)
        << "call " << i << ": the default thread count differs from 1 thread";
  }
  for (int ncallers : {1, 2, 4}) {
    std::vector<std::string> errors(static_cast<size_t>(ncallers));
    std::vector<std::thread> th;
    for (int c = 0; c < ncallers; ++c)
      th.emplace_back([&, c] {
        std::vector<float> got;
        for (int r = 0; r < rounds; ++r)
          for (size_t i = size_t(c); i < ncalls; i += size_t(ncallers)) {
            if (!run_call(m, cross, calls[i], 0, out_floats, got)) {
              errors[size_t(c)] = std::string("call failed: ") + bertrank_last_error();
              return;
            }
            if (std::memcmp(got.data(), want[i].data(), out_floats * sizeof(float)) != 0) {
              errors[size_t(c)] = "call " + std::to_string(i) + " differs from the sequential result";
              return;
            }
          }
      });
    for (auto& t : th) t.join();
    for (int c = 0; c < ncallers; ++c)
      EXPECT_EQ(errors[size_t(c)], "") << ncallers << " concurrent callers, caller " << c << ", " << path;
  }
  bertrank_model_free(m);
}

TEST(ParallelCApi, ConcurrentEmbedBitIdenticalToSequential) {
  check_concurrent_calls(wide_model_path(false), 8, 8, 3);
}

TEST(ParallelCApi, ConcurrentScoreBitIdenticalToSequential) {
  check_concurrent_calls(wide_model_path(true), 8, 8, 3);
}

// The same on the real models when weights/ has them (MiniLM: 384 wide, 6 layers).
TEST(ParallelCApi, ConcurrentRealModelsBitIdenticalToSequential) {
  const std::string embed = bertrank::test::weights_dir() + "/all-MiniLM-L6-v2.brm";
  const std::string cross = bertrank::test::weights_dir() + "/seeded-cross-encoder.brm";
  if (!bertrank::test::exists(embed) && !bertrank::test::exists(cross))
    GTEST_SKIP() << embed << " and " << cross << " not found (run ./scripts/setup.sh)";
  if (bertrank::test::exists(embed)) check_concurrent_calls(embed, 8, 8, 1);
  if (bertrank::test::exists(cross)) check_concurrent_calls(cross, 8, 8, 1);
}

}  // namespace
