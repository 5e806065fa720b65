// The server's document store: add/remove/read, replay of the write-ahead log after a crash,
// torn tails and damaged logs, the writer lock, and readers never seeing half a write.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "model_test_util.h"
#include "server/store.h"
#include "test_paths.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using bertrank::server::DocumentStore;
using bertrank::server::StoreDocument;
using bertrank::server::StoreOptions;
using bertrank::test::error_of;
using bertrank::test::read_bytes;
using bertrank::test::write_bytes;

const std::string& tiny_path() {
  static const std::string p = [] {
    const std::string path = bertrank::test::tmp_dir("store") + "/tiny-embed.brm";
    bertrank::test::TinyModel().write(path);
    return path;
  }();
  return p;
}

const bertrank::Model& tiny() {
  static const bertrank::Model m(tiny_path());
  return m;
}

// A fresh directory per test, so paths never collide.
std::string fresh_dir(const std::string& name) {
  const std::string d = bertrank::test::tmp_dir("store/" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

StoreOptions opts(const std::string& path) {
  StoreOptions o;
  o.index_path = path;
  return o;
}

const bertrank_embed_params kEmbed = bertrank_embed_default_params();

std::vector<StoreDocument> docs(std::vector<std::pair<int64_t, std::string>> v) {
  std::vector<StoreDocument> d;
  for (auto& [id, text] : v) d.push_back({id, text, "{\"n\":" + std::to_string(text.size()) + "}"});
  return d;
}

struct Doc {
  bool present = false;
  std::string text, meta;
};

Doc doc_of(const DocumentStore& s, int64_t id) {
  return s.read([&](const bertrank_index* x) {
    Doc d;
    const char *t = nullptr, *m = nullptr;
    size_t n = 0;
    if (bertrank_index_document(x, id, &t, &n, &m) == BERTRANK_OK) d = {true, std::string(t, n), m};
    return d;
  });
}

std::vector<int64_t> ids_of(const DocumentStore& s) {
  return s.read([](const bertrank_index* x) {
    size_t n = 0;
    bertrank_index_ids(x, nullptr, 0, &n);
    std::vector<int64_t> ids(n);
    EXPECT_EQ(bertrank_index_ids(x, ids.data(), ids.size(), &n), BERTRANK_OK) << bertrank_last_error();
    return ids;
  });
}

// Dense hits (id and score bits) of a few queries.
std::vector<bertrank_hit> search(const DocumentStore& s, const bertrank::Model& enc) {
  const char* q[] = {"hello world", "the a", "world ."};
  bertrank_search_params p = bertrank_search_default_params();
  p.k = 8;
  std::vector<bertrank_hit> out(3 * p.k);
  s.read([&](const bertrank_index* x) {
    EXPECT_EQ(bertrank_search(x, enc.get(), nullptr, q, nullptr, 3, &p, out.data(), out.size(), nullptr), BERTRANK_OK)
        << bertrank_last_error();
    return 0;
  });
  return out;
}

void expect_same_hits(const std::vector<bertrank_hit>& a, const std::vector<bertrank_hit>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id) << i;
    EXPECT_EQ(std::memcmp(&a[i].score, &b[i].score, sizeof(float)), 0) << i << ": " << a[i].score << " vs " << b[i].score;
  }
}

// The files a crash would leave: the index and its log copied while the store lives.
void copy_crash_state(const std::string& from, const std::string& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  fs::copy_file(from + ".wal", to + ".wal", fs::copy_options::overwrite_existing);
}

TEST(Store, Crc32MatchesTheStandardCheckValue) {
  EXPECT_EQ(bertrank::server::store_crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(bertrank::server::store_crc32("", 0), 0u);
  // Continuing a CRC over a split buffer gives the CRC of the whole.
  EXPECT_EQ(bertrank::server::store_crc32("6789", 4, bertrank::server::store_crc32("12345", 5)), 0xCBF43926u);
}

TEST(Store, IndexIdsListsIdsAscendingAndChecksTheBuffer) {
  bertrank::Index idx(tiny());
  size_t n = 99;
  EXPECT_EQ(bertrank_index_ids(idx.get(), nullptr, 0, &n), BERTRANK_OK);
  EXPECT_EQ(n, 0u);
  const std::vector<int64_t> ids = {30, 4, 17};
  std::vector<float> v(3 * 8, 0.5f);
  ASSERT_EQ(bertrank_index_add_vectors(idx.get(), ids.data(), v.data(), nullptr, nullptr, nullptr, 3), BERTRANK_OK);
  int64_t out[3] = {-7, -7, -7};
  EXPECT_EQ(bertrank_index_ids(idx.get(), out, 2, &n), BERTRANK_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(out[0], -7) << "nothing written when the buffer is too small";
  EXPECT_EQ(bertrank_index_ids(idx.get(), out, 3, &n), BERTRANK_OK);
  EXPECT_EQ(std::vector<int64_t>(out, out + 3), (std::vector<int64_t>{4, 17, 30}));
  EXPECT_EQ(bertrank_index_ids(idx.get(), out, 3, nullptr), BERTRANK_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(bertrank_index_ids(nullptr, out, 3, &n), BERTRANK_ERR_INVALID_HANDLE);
}

TEST(Store, CreatesAnEmptyIndexWithBm25) {
  const std::string path = fresh_dir("create") + "/docs.idx";
  {
    DocumentStore s(opts(path), tiny());
    EXPECT_TRUE(fs::exists(path));
    EXPECT_TRUE(fs::exists(path + ".wal"));
    EXPECT_EQ(s.size(), 0u);
    EXPECT_EQ(s.path(), path);
    const int bm25 = s.read([](const bertrank_index* x) {
      bertrank_index_info i;
      EXPECT_EQ(bertrank_index_get_info(x, &i), BERTRANK_OK);
      return i.bm25;
    });
    EXPECT_EQ(bm25, 1);
  }
  bertrank::Index back = bertrank::Index::load(path);
  EXPECT_EQ(back.size(), 0u);
}

TEST(Store, AddAssignsIdsRemoveAndRead) {
  const std::string path = fresh_dir("basic") + "/docs.idx";
  DocumentStore s(opts(path), tiny());
  // -1: the next free id over the index and this call.
  std::vector<int64_t> ids = s.add(docs({{-1, "hello world"}, {7, "the world"}, {-1, "a hello"}}), kEmbed);
  EXPECT_EQ(ids, (std::vector<int64_t>{8, 7, 9}));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.writes(), 1u);
  EXPECT_GT(s.wal_bytes(), 0u);
  const Doc d = doc_of(s, 7);
  EXPECT_TRUE(d.present);
  EXPECT_EQ(d.text, "the world");
  EXPECT_EQ(d.meta, "{\"n\":9}");
  ids = s.add(docs({{-1, "world"}}), kEmbed);
  EXPECT_EQ(ids, (std::vector<int64_t>{10}));

  EXPECT_EQ(s.remove({7, 100, 7}), 1u);
  EXPECT_FALSE(doc_of(s, 7).present);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.writes(), 3u);
  // Removing nothing present writes nothing.
  const uint64_t before = s.wal_bytes();
  EXPECT_EQ(s.remove({7, 100}), 0u);
  EXPECT_EQ(s.wal_bytes(), before);
  EXPECT_EQ(s.writes(), 3u);
  // Removing the largest id: the next free id is computed from what is left.
  EXPECT_EQ(s.remove({10}), 1u);
  EXPECT_EQ(s.add(docs({{-1, "the"}}), kEmbed), (std::vector<int64_t>{10}));
  EXPECT_EQ(ids_of(s), (std::vector<int64_t>{8, 9, 10}));
  // Texts keep their embedded NULs and bytes.
  const std::string nul("hello\0world", 11);
  s.add({{42, nul, ""}}, kEmbed);
  EXPECT_EQ(doc_of(s, 42).text, nul);
  EXPECT_EQ(doc_of(s, 42).meta, "");
}

TEST(Store, BadAddsAreRefusedBeforeAnythingIsLogged) {
  const std::string path = fresh_dir("bad_add") + "/docs.idx";
  DocumentStore s(opts(path), tiny());
  s.add(docs({{3, "hello"}}), kEmbed);
  const uint64_t wal = s.wal_bytes();
  EXPECT_NE(error_of([&] { s.add(docs({{5, "a"}, {5, "b"}}), kEmbed); }).find("id 5 is given twice"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.add(docs({{4, "a"}, {3, "b"}}), kEmbed); }).find("documents[1]: id 3 is already in the index"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.add(docs({{-2, "a"}}), kEmbed); }).find("id -2 is negative"), std::string::npos);
  EXPECT_NE(error_of([&] { s.add({{1, "a", "[1,2]"}}, kEmbed); }).find("documents[0].meta is not a JSON object"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.add({{1, "a", "{\"k\":1,\"k\":2}"}}, kEmbed); }).find("has the key 'k' twice"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.add({{1, "a", "{oops"}}, kEmbed); }).find("is not valid JSON"), std::string::npos);
  EXPECT_THROW(s.add(docs({{4, "a"}, {3, "b"}}), kEmbed), std::invalid_argument);
  EXPECT_EQ(s.wal_bytes(), wal);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.writes(), 1u);
  EXPECT_TRUE(s.add({}, kEmbed).empty());
}

TEST(Store, RestartReplaysTheLogBitIdentically) {
  const std::string dir = fresh_dir("replay");
  const std::string path = dir + "/docs.idx", crashed = dir + "/crashed.idx";
  std::vector<bertrank_hit> hits;
  uint64_t wal = 0;
  {
    DocumentStore s(opts(path), tiny());
    s.add(docs({{-1, "hello world"}, {-1, "the world ."}, {-1, "a , hello"}}), kEmbed);
    s.add(docs({{10, "worlds"}, {11, "the the the"}}), kEmbed);
    s.remove({1});
    s.add(docs({{1, "hello again"}}), kEmbed);  // the same id, new text
    hits = search(s, tiny());
    wal = s.wal_bytes();
    copy_crash_state(path, crashed);  // as kill -9 would leave it: nothing checkpointed
  }
  EXPECT_EQ(fs::file_size(path + ".wal"), 0u) << "the destructor checkpoints";
  EXPECT_EQ(fs::file_size(crashed + ".wal"), wal);
  for (const std::string& p : {crashed, path}) {
    DocumentStore s(opts(p), tiny());
    EXPECT_EQ(ids_of(s), (std::vector<int64_t>{0, 1, 2, 10, 11})) << p;
    EXPECT_EQ(doc_of(s, 1).text, "hello again");
    EXPECT_EQ(doc_of(s, 10).meta, "{\"n\":6}");
    expect_same_hits(search(s, tiny()), hits);
    EXPECT_EQ(s.add(docs({{-1, "next"}}), kEmbed), (std::vector<int64_t>{12}));
  }
}

TEST(Store, ReplayAfterACheckpointCrashSkipsWhatTheIndexHas) {
  // A crash between the index save and the log truncation: the log replays over an index that
  // already holds its writes.
  const std::string dir = fresh_dir("ckpt_window");
  const std::string path = dir + "/docs.idx", crashed = dir + "/crashed.idx";
  std::vector<bertrank_hit> hits;
  {
    DocumentStore s(opts(path), tiny());
    s.add(docs({{1, "hello"}, {2, "world"}}), kEmbed);
    s.remove({1});
    s.add(docs({{1, "the hello"}, {3, "a"}}), kEmbed);
    s.remove({3});
    hits = search(s, tiny());
    const std::vector<uint8_t> log = read_bytes(path + ".wal");
    s.checkpoint();
    EXPECT_EQ(s.wal_bytes(), 0u);
    fs::copy_file(path, crashed);
    write_bytes(crashed + ".wal", log);
  }
  DocumentStore s(opts(crashed), tiny());
  EXPECT_EQ(ids_of(s), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(doc_of(s, 1).text, "the hello");
  expect_same_hits(search(s, tiny()), hits);
}

TEST(Store, TornTailAtEveryByteIsCutAndEarlierWritesSurvive) {
  const std::string dir = fresh_dir("torn");
  const std::string path = dir + "/docs.idx", crashed = dir + "/crashed.idx";
  std::vector<uint8_t> log;
  uint64_t last_start = 0;
  {
    DocumentStore s(opts(path), tiny());
    s.add(docs({{1, "hello"}, {2, "world"}}), kEmbed);
    s.remove({2});
    last_start = s.wal_bytes();
    s.add(docs({{3, "the world"}}), kEmbed);
    log = read_bytes(path + ".wal");
    copy_crash_state(path, crashed);
  }
  ASSERT_GT(log.size(), last_start);
  const std::vector<uint8_t> base = read_bytes(crashed);
  for (size_t cut = size_t(last_start); cut < log.size(); ++cut) {
    write_bytes(crashed, base);
    write_bytes(crashed + ".wal", std::vector<uint8_t>(log.begin(), log.begin() + long(cut)));
    testing::internal::CaptureStderr();
    {
      DocumentStore s(opts(crashed), tiny());
      EXPECT_EQ(ids_of(s), (std::vector<int64_t>{1})) << "cut at " << cut;
      EXPECT_EQ(s.wal_bytes(), last_start);
      // Cut on disk too, so the next append follows a valid record.
      EXPECT_EQ(fs::file_size(crashed + ".wal"), last_start);
    }
    const std::string err = testing::internal::GetCapturedStderr();
    if (cut > last_start)
      EXPECT_NE(err.find("torn record at byte " + std::to_string(last_start)), std::string::npos) << err;
    else
      EXPECT_EQ(err, "");
  }
  // The whole log: everything replays.
  write_bytes(crashed, base);
  write_bytes(crashed + ".wal", log);
  DocumentStore s(opts(crashed), tiny());
  EXPECT_EQ(ids_of(s), (std::vector<int64_t>{1, 3}));
}

TEST(Store, ZerosOrGarbageAfterTheLastRecordAreCutAndLoggingGoesOn) {
  // After a crash a file system may show the log longer than what was written (zeros), or
  // a torn header's bytes.
  const std::string dir = fresh_dir("garbage");
  const std::string path = dir + "/docs.idx", crashed = dir + "/crashed.idx";
  std::vector<uint8_t> log;
  {
    DocumentStore s(opts(path), tiny());
    s.add(docs({{1, "hello"}}), kEmbed);
    log = read_bytes(path + ".wal");
    copy_crash_state(path, crashed);
  }
  const std::vector<uint8_t> base = read_bytes(crashed);
  for (const std::vector<uint8_t>& tail : {std::vector<uint8_t>(4096, 0), std::vector<uint8_t>{'B', 'R', 'W', '1', 9},
                                           std::vector<uint8_t>{0xff, 0x00, 0x13}}) {
    std::vector<uint8_t> bad = log;
    bad.insert(bad.end(), tail.begin(), tail.end());
    write_bytes(crashed, base);
    write_bytes(crashed + ".wal", bad);
    testing::internal::CaptureStderr();
    DocumentStore s(opts(crashed), tiny());
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("torn record at byte " + std::to_string(log.size())), std::string::npos) << err;
    EXPECT_EQ(ids_of(s), (std::vector<int64_t>{1}));
    // The next record follows the last good one: a crash now replays both.
    s.add(docs({{2, "world"}}), kEmbed);
    copy_crash_state(crashed, dir + "/again.idx");
    DocumentStore again(opts(dir + "/again.idx"), tiny());
    EXPECT_EQ(ids_of(again), (std::vector<int64_t>{1, 2}));
  }
}

TEST(Store, DamageInsideTheLogIsRefusedWithItsOffset) {
  const std::string dir = fresh_dir("damage");
  const std::string path = dir + "/docs.idx", crashed = dir + "/crashed.idx";
  std::vector<uint8_t> log;
  uint64_t second = 0, third = 0;
  {
    DocumentStore s(opts(path), tiny());
    s.add(docs({{1, "hello"}}), kEmbed);
    second = s.wal_bytes();
    s.add(docs({{2, "world"}}), kEmbed);
    third = s.wal_bytes();
    s.add(docs({{3, "the"}}), kEmbed);
    log = read_bytes(path + ".wal");
    copy_crash_state(path, crashed);
  }
  const std::vector<uint8_t> base = read_bytes(crashed);
  // Every byte of the middle record: magic, length, CRC, payload.
  for (size_t at = size_t(second); at < size_t(third); ++at) {
    std::vector<uint8_t> bad = log;
    bad[at] ^= 0x40;
    write_bytes(crashed, base);
    write_bytes(crashed + ".wal", bad);
    const std::string err = error_of([&] { DocumentStore s(opts(crashed), tiny()); });
    EXPECT_NE(err.find("corrupt record at byte " + std::to_string(second)), std::string::npos)
        << "flipped byte " << at << ": " << err;
    EXPECT_EQ(read_bytes(crashed + ".wal"), bad) << "a refused log is left as it is";
  }
}

TEST(Store, ASecondStoreOnTheSamePathIsRefusedWhileTheFirstLives) {
  const std::string path = fresh_dir("lock") + "/docs.idx";
  {
    DocumentStore a(opts(path), tiny());
    a.add(docs({{1, "hello"}}), kEmbed);
    const std::string err = error_of([&] { DocumentStore b(opts(path), tiny()); });
    EXPECT_NE(err.find("is being written by another process"), std::string::npos) << err;
    EXPECT_NE(err.find(path), std::string::npos) << err;
    EXPECT_EQ(a.size(), 1u);
  }
  DocumentStore b(opts(path), tiny());  // free once the first is gone
  EXPECT_EQ(b.size(), 1u);
}

TEST(Store, AnIndexOfAnotherModelIsRefused) {
  const std::string dir = fresh_dir("wrong_model");
  bertrank::test::TinyModel other;
  other.meta["source"]["fingerprint"] = "sha256:other";
  other.write(dir + "/other.brm");
  const bertrank::Model m(dir + "/other.brm");
  const std::string path = dir + "/docs.idx";
  { DocumentStore s(opts(path), m); }
  const std::string err = error_of([&] { DocumentStore s(opts(path), tiny()); });
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("sha256:other"), std::string::npos) << err;
}

TEST(Store, CheckpointsWhenTheLogGrowsPastTheLimit) {
  const std::string path = fresh_dir("auto_ckpt") + "/docs.idx";
  StoreOptions o = opts(path);
  o.checkpoint_wal_bytes = 200;
  DocumentStore s(o, tiny());
  s.add(docs({{1, "hello"}}), kEmbed);
  const uint64_t one = s.wal_bytes();
  ASSERT_GT(one, 0u);
  ASSERT_LT(one, 200u);
  for (int64_t id = 2; s.wal_bytes() > 0; ++id) {
    ASSERT_LT(id, 100) << "never checkpointed";
    s.add(docs({{id, "world"}}), kEmbed);
  }
  // The index file alone holds every document now.
  EXPECT_EQ(bertrank::Index::load(path).size(), s.size());
  EXPECT_EQ(fs::file_size(path + ".wal"), 0u);
}

TEST(Store, ReadersNeverSeeHalfAWrite) {
  const std::string path = fresh_dir("concurrent") + "/docs.idx";
  StoreOptions o = opts(path);
  o.checkpoint_wal_bytes = 4096;  // checkpoints happen while readers read
  DocumentStore s(o, tiny());
  std::atomic<bool> done{false};
  std::atomic<long> reads{0}, bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r)
    readers.emplace_back([&] {
      while (!done) {
        s.read([&](const bertrank_index* x) {
          const size_t n = bertrank_index_size(x);
          if (n % 5 != 0) ++bad;
          // Every document of a batch is there, with its text.
          size_t m = 0;
          bertrank_index_ids(x, nullptr, 0, &m);
          if (m != n) ++bad;
          const char* q = "hello world";
          bertrank_search_params p = bertrank_search_default_params();
          p.k = 5;
          bertrank_hit h[5];
          if (bertrank_search(x, tiny().get(), nullptr, &q, nullptr, 1, &p, h, 5, nullptr) != BERTRANK_OK) ++bad;
          return 0;
        });
        ++reads;
      }
    });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&] {
      for (int b = 0; b < 15; ++b)
        s.add(docs({{-1, "hello"}, {-1, "world"}, {-1, "the"}, {-1, "a"}, {-1, "hello world"}}), kEmbed);
    });
  for (auto& t : writers) t.join();
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(s.size(), 150u);
  EXPECT_EQ(s.writes(), 30u);
  const std::vector<int64_t> ids = ids_of(s);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], int64_t(i));  // concurrent -1s never collide
}

TEST(Store, RealModelReplayIsBitIdentical) {
  const std::string model = bertrank::test::weights_dir() + "/all-MiniLM-L6-v2.brm";
  if (!bertrank::test::exists(model)) GTEST_SKIP() << "needs " << model << " (weights/fetch_models.sh)";
  const bertrank::Model enc(model);
  const std::string dir = fresh_dir("real");
  const std::string path = dir + "/docs.idx", crashed = dir + "/crashed.idx";
  std::vector<bertrank_hit> hits;
  {
    DocumentStore s(opts(path), enc);
    s.add({{-1, "The cat sat on the mat.", "{\"src\":\"a\"}"},
           {-1, "CPU inference for BERT retrieval models.", ""},
           {-1, "A write-ahead log makes writes durable.", ""}},
          kEmbed);
    s.add({{-1, "Dogs chase cats in the garden.", ""}}, kEmbed);
    hits = search(s, enc);
    copy_crash_state(path, crashed);
  }
  DocumentStore s(opts(crashed), enc);
  EXPECT_EQ(s.size(), 4u);
  expect_same_hits(search(s, enc), hits);
}

}  // namespace
