// Index persistence: save -> load identity, model check, corrupt/truncated files refused at
// load with specific errors, and a save killed part-way leaving the previous file loadable.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "retrieval/index.h"

using namespace bertrank::retrieval;
namespace fs = std::filesystem;

namespace {

std::string tmpdir() {
  static std::string d = [] {
    auto p = fs::temp_directory_path() / ("bertrank_index_test_" + std::to_string(getpid()));
    fs::create_directories(p);
    return p.string();
  }();
  return d;
}

std::vector<float> unit_vectors(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t d = 0; d < dim; ++d) s += (double)(x[i * dim + d] = nd(rng)) * x[i * dim + d];
    for (size_t d = 0; d < dim; ++d) x[i * dim + d] /= (float)std::sqrt(s);
  }
  return x;
}

const char* kWords[] = {"retrieval", "index", "vector", "cosine", "query", "document", "model",
                        "bert", "rank", "search", "memory", "disk", "cluster", "list", "token"};

Index make_index(size_t n, size_t dim, IndexOptions o, uint64_t seed = 3) {
  auto x = unit_vectors(n, dim, seed);
  std::vector<int64_t> ids(n);
  std::vector<std::string> texts(n), metas(n);
  std::mt19937 rng((unsigned)seed);
  for (size_t i = 0; i < n; ++i) {
    ids[i] = (int64_t)(i * 13 + 5);
    for (int w = 0; w < 6; ++w) texts[i] += std::string(kWords[rng() % 15]) + " ";
    if (i % 3 == 0) metas[i] = "{\"n\":" + std::to_string(i) + "}";
  }
  Index idx(dim, o, "sha256:abc123", "/models/minilm.brm");
  idx.add(n, x.data(), ids.data(), texts.data(), metas.data());
  return idx;
}

std::vector<uint8_t> read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}
void write_all(const std::string& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write((const char*)b.data(), (std::streamsize)b.size());
}

void expect_same_results(const Index& a, const Index& b, size_t dim) {
  ASSERT_EQ(a.size(), b.size());
  const size_t nq = 20, k = 15;
  auto q = unit_vectors(nq, dim, 777);
  std::vector<float> s1(nq * k), s2(nq * k);
  std::vector<int64_t> i1(nq * k), i2(nq * k);
  a.search_dense(nq, q.data(), k, s1.data(), i1.data());
  b.search_dense(nq, q.data(), k, s2.data(), i2.data());
  EXPECT_EQ(i1, i2);
  EXPECT_EQ(s1, s2);
  for (int64_t id : i1) {
    if (id < 0) continue;
    ASSERT_NE(b.doc(id), nullptr);
    EXPECT_EQ(a.doc(id)->text, b.doc(id)->text);
    EXPECT_EQ(a.doc(id)->meta, b.doc(id)->meta);
  }
  if (a.bm25()) {
    ASSERT_NE(b.bm25(), nullptr);
    std::vector<std::string> qs = {"vector index", "bert model rank", "disk"};
    std::vector<float> t1(3 * k), t2(3 * k);
    std::vector<int64_t> j1(3 * k), j2(3 * k);
    a.search_bm25(3, qs.data(), k, t1.data(), j1.data());
    b.search_bm25(3, qs.data(), k, t2.data(), j2.data());
    EXPECT_EQ(j1, j2);
    EXPECT_EQ(t1, t2);
  }
}

// Section table access for the corruption tests.
struct Entry {
  uint32_t type;
  uint64_t offset, size;
  size_t at;  // byte position of the entry
};
std::vector<Entry> sections(const std::vector<uint8_t>& f) {
  uint32_t n;
  std::memcpy(&n, &f[24], 4);
  std::vector<Entry> out;
  for (uint32_t i = 0; i < n; ++i) {
    Entry e;
    e.at = 64 + 32 * i;
    std::memcpy(&e.type, &f[e.at], 4);
    std::memcpy(&e.offset, &f[e.at + 8], 8);
    std::memcpy(&e.size, &f[e.at + 16], 8);
    out.push_back(e);
  }
  return out;
}
Entry section(const std::vector<uint8_t>& f, SectionType t) {
  for (auto& e : sections(f))
    if (e.type == (uint32_t)t) return e;
  ADD_FAILURE() << "no section " << section_name(t);
  return {};
}
void fix_checksum(std::vector<uint8_t>& f) {
  const uint64_t c = checksum64(f.data(), f.size() - 8);
  std::memcpy(&f[f.size() - 8], &c, 8);
}
template <class T>
void poke(std::vector<uint8_t>& f, size_t at, T v) {
  std::memcpy(&f[at], &v, sizeof v);
}
// Replaces `from` by `to` (same length) inside the META JSON.
void edit_meta(std::vector<uint8_t>& f, const std::string& from, const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  auto e = section(f, SectionType::meta);
  std::string m((const char*)&f[e.offset], e.size);
  const size_t p = m.find(from);
  ASSERT_NE(p, std::string::npos) << from << " not in " << m;
  std::memcpy(&f[e.offset + p], to.data(), to.size());
}

}  // namespace

TEST(IndexFile, SaveLoadIdentical) {
  const size_t dim = 24;
  struct Case { IndexKind kind; StorageType st; bool bm25; };
  for (Case c : {Case{IndexKind::flat, StorageType::f32, true}, Case{IndexKind::flat, StorageType::f16, false},
                 Case{IndexKind::flat, StorageType::int8, true}, Case{IndexKind::ivf, StorageType::f32, true},
                 Case{IndexKind::ivf, StorageType::int8, false}}) {
    IndexOptions o;
    o.kind = c.kind;
    o.storage = c.st;
    o.bm25 = c.bm25;
    o.nlist = 10;
    Index a = make_index(700, dim, o);
    const std::string p = tmpdir() + "/a.bri";
    a.save(p);
    for (bool mm : {false, true}) {
      LoadOptions lo;
      lo.mmap = mm;
      Index b = Index::load(p, lo);
      SCOPED_TRACE(std::string(index_kind_name(c.kind)) + "/" + storage_type_name(c.st) + (mm ? " mmap" : ""));
      EXPECT_EQ(b.model_fingerprint(), "sha256:abc123");
      EXPECT_EQ(b.model_path(), "/models/minilm.brm");
      EXPECT_EQ(b.info(), a.info());
      expect_same_results(a, b, dim);
      // Saving what was loaded writes the same bytes.
      const std::string p2 = tmpdir() + "/b.bri";
      b.save(p2);
      EXPECT_EQ(read_all(p), read_all(p2));
      // A loaded (possibly mmapped) index can still change: remove, add.
      int64_t gone = 5 + 13 * 4;
      EXPECT_EQ(b.remove(1, &gone), 1u);
      EXPECT_FALSE(b.contains(gone));
      auto v = unit_vectors(1, dim, 9);
      std::string t = "new text", m = "";
      int64_t nid = 1000000;
      b.add(1, v.data(), &nid, &t, &m);
      EXPECT_TRUE(b.contains(nid));
      std::vector<float> s(1);
      std::vector<int64_t> o1(1);
      b.search_dense(1, v.data(), 1, s.data(), o1.data());
      EXPECT_EQ(o1[0], nid);
    }
  }
}

TEST(IndexFile, ModelMismatchRefused) {
  IndexOptions o;
  Index a = make_index(10, 8, o);
  EXPECT_NO_THROW(a.check_model("sha256:abc123"));
  try {
    a.check_model("sha256:other");
    FAIL() << "no throw";
  } catch (const ModelMismatchError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("sha256:abc123"), std::string::npos) << m;
    EXPECT_NE(m.find("sha256:other"), std::string::npos) << m;
    EXPECT_NE(m.find("/models/minilm.brm"), std::string::npos) << m;
  }
  const std::string p = tmpdir() + "/m.bri";
  a.save(p);
  EXPECT_THROW(Index::load(p).check_model("sha256:other"), ModelMismatchError);
}

TEST(IndexFile, RemoveAndSaveKeepsOtherIds) {
  IndexOptions o;
  o.bm25 = true;
  Index a = make_index(300, 16, o);
  std::vector<int64_t> gone = {5, 18, 5 + 13 * 299};
  EXPECT_EQ(a.remove(gone.size(), gone.data()), 3u);
  const std::string p = tmpdir() + "/r.bri";
  a.save(p);
  Index b = Index::load(p);
  EXPECT_EQ(b.size(), 297u);
  for (size_t i = 0; i < 300; ++i) {
    const int64_t id = (int64_t)(i * 13 + 5);
    const bool removed = std::find(gone.begin(), gone.end(), id) != gone.end();
    EXPECT_EQ(b.contains(id), !removed);
    EXPECT_EQ(b.bm25()->contains(id), !removed);
  }
}

struct Corruption {
  const char* name;
  const char* expect;  // substring of the error
  std::function<void(std::vector<uint8_t>&)> apply;
};

TEST(IndexFile, CorruptFilesRefusedAtLoad) {
  IndexOptions flat;
  flat.storage = StorageType::int8;
  flat.bm25 = true;
  const std::string good_flat = tmpdir() + "/good_flat.bri";
  make_index(200, 20, flat).save(good_flat);
  IndexOptions ivf;
  ivf.kind = IndexKind::ivf;
  ivf.nlist = 6;
  const std::string good_ivf = tmpdir() + "/good_ivf.bri";
  make_index(200, 20, ivf).save(good_ivf);

  auto fixed = [](std::function<void(std::vector<uint8_t>&)> f) {
    return [f](std::vector<uint8_t>& b) { f(b); fix_checksum(b); };
  };
  std::vector<std::pair<bool, Corruption>> cases = {  // (ivf file?, case)
      {false, {"empty file", "smaller than the 72-byte minimum", [](auto& b) { b.clear(); }}},
      {false, {"truncated to half", "header.file_size", [](auto& b) { b.resize(b.size() / 2); }}},
      {false, {"truncated by one byte", "header.file_size", [](auto& b) { b.pop_back(); }}},
      {false, {"appended garbage", "header.file_size", [](auto& b) { b.push_back(0); }}},
      {false, {"bad magic", "header.magic", [](auto& b) { b[0] = 'X'; }}},
      {false, {"future version", "header.version", fixed([](auto& b) { poke<uint32_t>(b, 8, 99); })}},
      {false, {"flipped payload bit", "trailer.checksum", [](auto& b) { b[b.size() / 2] ^= 0x10; }}},
      {false, {"zero sections", "header.section_count", fixed([](auto& b) { poke<uint32_t>(b, 24, 0); })}},
      {false, {"too many sections", "header.section_count", fixed([](auto& b) { poke<uint32_t>(b, 24, 1000); })}},
      {false, {"unknown section type", "unknown section type 77", fixed([](auto& b) { poke<uint32_t>(b, 64, 77); })}},
      {false, {"duplicate section", "duplicate section", fixed([](auto& b) {
                 uint32_t t; std::memcpy(&t, &b[64], 4); poke<uint32_t>(b, 96, t); })}},
      {false, {"misaligned section", "not 64-byte aligned", fixed([](auto& b) {
                 uint64_t off; std::memcpy(&off, &b[64 + 8], 8); poke<uint64_t>(b, 64 + 8, off + 8); })}},
      {false, {"section size overflows", "runs past the end", fixed([](auto& b) { poke<uint64_t>(b, 64 + 16, ~0ull - 16); })}},
      {false, {"section past end", "runs past the end", fixed([](auto& b) { poke<uint64_t>(b, 64 + 16, b.size()); })}},
      {false, {"overlapping sections", "sections overlap", fixed([](auto& b) {
                 uint64_t off; std::memcpy(&off, &b[64 + 8], 8); poke<uint64_t>(b, 96 + 8, off); })}},
      {false, {"META not JSON", "META: not a JSON object", fixed([](auto& b) {
                 b[section(b, SectionType::meta).offset] = '#'; })}},
      {false, {"META dim disagrees", "section RESCORE: size", fixed([](auto& b) { edit_meta(b, "\"dim\":20", "\"dim\":21"); })}},
      {false, {"META count disagrees", "META.docs", fixed([](auto& b) { edit_meta(b, "\"count\":200", "\"count\":201"); })}},
      {false, {"META storage unknown", "META.storage", fixed([](auto& b) { edit_meta(b, "\"int8\"", "\"int9\""); })}},
      {false, {"META fingerprint not a string", "META.model", fixed([](auto& b) { edit_meta(b, "\"fingerprint\":\"sha256:abc123\"", "\"fingerprint\":123456789012345"); })}},
      {false, {"duplicate vector id", "appears twice", fixed([](auto& b) {
                 auto e = section(b, SectionType::vec_ids); std::memcpy(&b[e.offset + 8], &b[e.offset], 8); })}},
      {false, {"negative vector id", "is negative", fixed([](auto& b) { poke<int64_t>(b, section(b, SectionType::vec_ids).offset, -4); })}},
      {false, {"NaN quantizer parameter", "section SQ_PARAMS", fixed([](auto& b) {
                 poke<float>(b, section(b, SectionType::sq_params).offset + 4, NAN); })}},
      {false, {"DOCS count disagrees", "section DOCS: count", fixed([](auto& b) {
                 poke<uint64_t>(b, section(b, SectionType::docs).offset, 7); })}},
      {false, {"DOCS text length too long", "section DOCS", fixed([](auto& b) {
                 poke<uint64_t>(b, section(b, SectionType::docs).offset + 16, 1ull << 40); })}},
      {false, {"DOCS text length overflows", "overflows", fixed([](auto& b) {
                 poke<uint64_t>(b, section(b, SectionType::docs).offset + 16, ~0ull);
                 poke<uint64_t>(b, section(b, SectionType::docs).offset + 24, 5); })}},
      {false, {"BM25 negative k1", "section BM25: k1", fixed([](auto& b) { poke<float>(b, section(b, SectionType::bm25).offset, -1.f); })}},
      {false, {"BM25 huge term count", "section BM25: nterms", fixed([](auto& b) {
                 poke<uint64_t>(b, section(b, SectionType::bm25).offset + 16, 1ull << 60); })}},
      {false, {"BM25 section truncated", "section BM25", fixed([](auto& b) {
                 auto e = section(b, SectionType::bm25); poke<uint64_t>(b, e.at + 16, e.size - 5); })}},
      {false, {"missing META", "missing section META", fixed([](auto& b) {
                 poke<uint32_t>(b, section(b, SectionType::meta).at, (uint32_t)SectionType::ivf_centroids); })}},
      {false, {"IVF section in a flat index", "present in a flat index", fixed([](auto& b) {
                 poke<uint32_t>(b, section(b, SectionType::rescore).at, (uint32_t)SectionType::ivf_list_sizes); })}},
      {true, {"IVF list sizes disagree with count", "section IVF_LIST_SIZES", fixed([](auto& b) {
                 auto e = section(b, SectionType::ivf_list_sizes); uint64_t v; std::memcpy(&v, &b[e.offset], 8);
                 poke<uint64_t>(b, e.offset, v + 1); })}},
      {true, {"IVF list size overflows", "IVF_LIST_SIZES", fixed([](auto& b) {
                 auto e = section(b, SectionType::ivf_list_sizes); poke<uint64_t>(b, e.offset, ~0ull - 3); })}},
      {true, {"IVF nprobe > nlist", "META.nprobe", fixed([](auto& b) { edit_meta(b, "\"nprobe\":6", "\"nprobe\":9"); })}},
      {true, {"META key twice", "has the key 'nlist' twice", fixed([](auto& b) { edit_meta(b, "\"nprobe\":6", "\"nlist\":16"); })}},
      {true, {"IVF centroid not finite", "IVF_CENTROIDS", fixed([](auto& b) {
                 poke<float>(b, section(b, SectionType::ivf_centroids).offset, INFINITY); })}},
      {true, {"IVF codes section short", "section VEC_CODES: size", fixed([](auto& b) {
                 auto e = section(b, SectionType::vec_codes); poke<uint64_t>(b, e.at + 16, e.size - 80); })}},
  };
  EXPECT_GE(cases.size(), 15u);
  for (auto& [is_ivf, c] : cases) {
    auto bytes = read_all(is_ivf ? good_ivf : good_flat);
    c.apply(bytes);
    const std::string p = tmpdir() + "/bad.bri";
    write_all(p, bytes);
    for (bool mm : {false, true}) {
      LoadOptions lo;
      lo.mmap = mm;
      try {
        Index::load(p, lo);
        ADD_FAILURE() << c.name << ": loaded without error";
      } catch (const IndexFileError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(c.expect), std::string::npos) << c.name << ": error was: " << m;
        EXPECT_NE(m.find(p), std::string::npos) << c.name << ": error does not name the file: " << m;
      } catch (const std::exception& e) {
        ADD_FAILURE() << c.name << ": wrong exception type: " << e.what();
      }
    }
  }
  // The good files still load.
  EXPECT_NO_THROW(Index::load(good_flat));
  EXPECT_NO_THROW(Index::load(good_ivf));
}

// A child adds vectors and saves over the index, but dies part-way through writing (test hook
// that _exits after N bytes, and a real SIGKILL during a large save). The old file must load.
TEST(IndexFile, KilledSaveLeavesOldIndexLoadable) {
  IndexOptions o;
  o.bm25 = true;
  const size_t dim = 64;
  Index a = make_index(2000, dim, o);
  const std::string p = tmpdir() + "/k.bri";
  a.save(p);
  const auto before = read_all(p);

  // 1) Deterministic: the writer stops after 10,000 bytes.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("BERTRANK_TEST_SAVE_EXIT_AFTER_BYTES", "10000", 1);
    auto v = unit_vectors(50, dim, 42);
    std::vector<int64_t> ids(50);
    for (size_t i = 0; i < 50; ++i) ids[i] = 900000 + (int64_t)i;
    a.add(50, v.data(), ids.data(), nullptr, nullptr);
    a.save(p);
    _exit(0);  // not reached
  }
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 86) << "the test hook did not fire";
  EXPECT_EQ(read_all(p), before);
  Index b = Index::load(p);
  expect_same_results(a, b, dim);
  std::string partial;  // "<p>.tmp-<pid>-<random>" (common/atomic_file.h)
  for (const auto& e : fs::directory_iterator(tmpdir()))
    if (e.path().string().rfind(p + ".tmp-" + std::to_string(pid) + "-", 0) == 0) partial = e.path().string();
  ASSERT_FALSE(partial.empty()) << "the killed save left no temporary";
  EXPECT_EQ(fs::file_size(partial), 10000u);
  fs::remove(partial);

  // 2) Real SIGKILL during a large save (about 100 MB, saved over and over).
  Index big = make_index(100000, 256, IndexOptions{});
  const std::string pb = tmpdir() + "/big.bri";
  big.save(pb);
  for (int attempt = 0; attempt < 3; ++attempt) {
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (;;) big.save(pb);
    }
    usleep(150000 + 100000 * attempt);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFSIGNALED(st));
    Index c = Index::load(pb);  // whichever complete version is there
    EXPECT_EQ(c.size(), 100000u);
    // its temporary is removed by the next save (common/atomic_file.h)
  }
  fs::remove_all(tmpdir());
}
