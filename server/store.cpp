#include "server/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <shared_mutex>  // std::shared_lock
#include <stdexcept>
#include <unordered_set>

#include "common/checked_size.h"
#include "common/file_lock.h"
#include "common/json_strict.h"

namespace bertrank::server {

namespace {

// The record format is in store.h.
constexpr uint32_t kMagic = 0x31575242;  // "BRW1"
constexpr size_t kHeaderBytes = 4 + 8 + 4;
constexpr uint8_t kOpAdd = 1, kOpRemove = 2;

std::string errno_text(int e) { return std::strerror(e); }

// Little-endian fixed-width integers, whatever the host's byte order: the one decoder of the log's
// record headers (load_le) and payloads (Reader).
template <class T>
T load_le(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = T(v | T(T(p[i]) << (8 * i)));
  return v;
}

class Writer {
 public:
  void u8(uint8_t v) { b_.push_back(v); }
  void u32(uint32_t v) { le(v); }
  void u64(uint64_t v) { le(v); }
  void f32(float f) {
    uint32_t v;
    std::memcpy(&v, &f, 4);
    u32(v);
  }
  void bytes(const std::string& s) {
    u64(s.size());
    b_.insert(b_.end(), s.begin(), s.end());
  }
  std::vector<uint8_t>& buf() { return b_; }

 private:
  template <class T>
  void le(T v) {
    for (size_t i = 0; i < sizeof(T); ++i) b_.push_back(uint8_t(v >> (8 * i)));
  }
  std::vector<uint8_t> b_;
};

// Reads a payload; every read is checked against the bytes left (a false return = malformed).
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool u8(uint8_t* v) { return le(v); }
  bool u32(uint32_t* v) { return le(v); }
  bool u64(uint64_t* v) { return le(v); }
  bool i64(int64_t* v) {
    uint64_t u;
    if (!u64(&u)) return false;
    std::memcpy(v, &u, 8);
    return true;
  }
  bool f32(float* f) {
    uint32_t u;
    if (!u32(&u)) return false;
    std::memcpy(f, &u, 4);
    return true;
  }
  bool bytes(std::string* s) {
    uint64_t len;
    if (!u64(&len) || len > n_) return false;
    s->assign(reinterpret_cast<const char*>(p_), size_t(len));
    p_ += len;
    n_ -= size_t(len);
    return true;
  }
  size_t left() const { return n_; }

 private:
  template <class T>
  bool le(T* v) {
    if (n_ < sizeof(T)) return false;
    *v = load_le<T>(p_);
    p_ += sizeof(T);
    n_ -= sizeof(T);
    return true;
  }
  const uint8_t* p_;
  size_t n_;
};


// A whole record around a payload.
std::vector<uint8_t> make_record(const std::vector<uint8_t>& payload) {
  Writer w;
  w.u32(kMagic);
  w.u64(payload.size());
  const uint32_t crc = store_crc32(payload.data(), payload.size(), store_crc32(w.buf().data() + 4, 8));
  w.u32(crc);
  std::vector<uint8_t> r = std::move(w.buf());
  r.insert(r.end(), payload.begin(), payload.end());
  return r;
}

// If a valid record starts at `at`, sets *payload / *payload_len / *end and returns true.
bool record_at(const std::vector<uint8_t>& b, size_t at, const uint8_t** payload, size_t* payload_len, size_t* end) {
  if (b.size() - at < kHeaderBytes) return false;
  const uint8_t* h = b.data() + at;
  if (load_le<uint32_t>(h) != kMagic) return false;
  const uint64_t len = load_le<uint64_t>(h + 4);
  size_t total;
  if (len > uint64_t(SIZE_MAX) || add_overflows(size_t(len), kHeaderBytes, &total) || total > b.size() - at)
    return false;
  if (store_crc32(h + kHeaderBytes, size_t(len), store_crc32(h + 4, 8)) != load_le<uint32_t>(h + 12)) return false;
  *payload = h + kHeaderBytes;
  *payload_len = size_t(len);
  *end = at + total;
  return true;
}

struct AddRecord {
  std::vector<int64_t> ids;
  std::vector<float> vectors;
  std::vector<std::string> texts, metas;
};

std::vector<uint8_t> encode_add(const AddRecord& a, size_t dim) {
  Writer w;
  w.u8(kOpAdd);
  w.u64(a.ids.size());
  w.u32(uint32_t(dim));
  for (size_t i = 0; i < a.ids.size(); ++i) {
    w.u64(uint64_t(a.ids[i]));
    for (size_t j = 0; j < dim; ++j) w.f32(a.vectors[i * dim + j]);
    w.bytes(a.texts[i]);
    w.bytes(a.metas[i]);
  }
  return std::move(w.buf());
}

std::vector<uint8_t> encode_remove(const std::vector<int64_t>& ids) {
  Writer w;
  w.u8(kOpRemove);
  w.u64(ids.size());
  for (int64_t id : ids) w.u64(uint64_t(id));
  return std::move(w.buf());
}

void write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("write: " + errno_text(errno));
    }
    p += w;
    n -= size_t(w);
  }
}

void fsync_dir_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

DocumentConflict already_present(size_t i, int64_t id) {
  return DocumentConflict("documents[" + std::to_string(i) + "]: id " + std::to_string(id) +
                               " is already in the index");
}

bool meta_ok(const std::string& meta, std::string* why) {
  if (meta.empty()) return true;
  if (meta.find('\0') != std::string::npos) {
    *why = "contains a NUL byte";
    return false;
  }
  const StrictJson j = json_parse_strict(meta);
  if (!j.ok()) {
    *why = j.problem();
    return false;
  }
  if (!j.value.is_object()) {
    *why = "is not a JSON object";
    return false;
  }
  return true;
}

// A shared mutex that prefers writers: once a writer waits, new readers wait behind it.
// (glibc's std::shared_mutex prefers readers, so a steady stream of searches starved writes.)
class WriterFirstMutex {
 public:
  void lock_shared() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  void unlock_shared() {
    std::lock_guard<std::mutex> l(m_);
    if (--readers_ == 0) cv_.notify_all();
  }
  void lock() {
    std::unique_lock<std::mutex> l(m_);
    ++writers_waiting_;
    cv_.wait(l, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  void unlock() {
    std::lock_guard<std::mutex> l(m_);
    writer_ = false;
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  size_t readers_ = 0, writers_waiting_ = 0;
  bool writer_ = false;
};

}  // namespace

uint32_t store_crc32(const void* data, size_t n, uint32_t crc) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

struct DocumentStore::Impl {
  StoreOptions opts;
  const Model* encoder = nullptr;
  std::string wal_path;
  std::unique_ptr<FileLock> lock;
  Index index;
  size_t dim = 0;
  int wal_fd = -1;
  std::atomic<uint64_t> wal_bytes{0};
  std::atomic<uint64_t> writes{0};
  int64_t max_id = -1;
  std::string broken;  // non-empty: the log and memory may disagree; writes are refused

  mutable WriterFirstMutex rw;  // readers shared, apply exclusive
  std::mutex writer;             // one writer at a time: one log order = one apply order

  ~Impl() {
    if (wal_fd >= 0) ::close(wal_fd);
  }

  void recompute_max_id() {
    size_t n = 0;
    const bertrank_status st = bertrank_index_ids(index.get(), nullptr, 0, &n);
    if (st != BERTRANK_ERR_BUFFER_TOO_SMALL) check(st);
    max_id = -1;
    if (n == 0) return;
    std::vector<int64_t> ids(n);
    check(bertrank_index_ids(index.get(), ids.data(), ids.size(), &n));
    max_id = ids.back();
  }

  bool present(int64_t id) const {
    return bertrank_index_document(index.get(), id, nullptr, nullptr, nullptr) == BERTRANK_OK;
  }

  void apply_add(const AddRecord& a) {
    if (a.ids.empty()) return;
    std::vector<const char*> t(a.ids.size()), m(a.ids.size());
    std::vector<size_t> tl(a.ids.size());
    for (size_t i = 0; i < a.ids.size(); ++i) {
      t[i] = a.texts[i].c_str();
      tl[i] = a.texts[i].size();
      m[i] = a.metas[i].c_str();
    }
    check(bertrank_index_add_vectors(index.get(), a.ids.data(), a.vectors.data(), t.data(), tl.data(), m.data(),
                                     a.ids.size()));
    max_id = std::max(max_id, *std::max_element(a.ids.begin(), a.ids.end()));
  }

  // One payload on replay; false if it does not parse (treated like a bad CRC: corruption).
  bool replay_payload(const uint8_t* p, size_t n, std::string* why) {
    Reader r(p, n);
    uint8_t op;
    uint64_t count;
    if (!r.u8(&op) || !r.u64(&count)) return *why = "short payload", false;
    if (op == kOpRemove) {
      uint64_t bytes;
      if (mul_overflows<uint64_t>(count, 8, &bytes) || bytes != r.left()) return *why = "bad remove count", false;
      std::vector<int64_t> ids(static_cast<size_t>(count));
      for (auto& id : ids)
        if (!r.i64(&id)) return *why = "short remove", false;
      check(bertrank_index_remove(index.get(), ids.data(), ids.size(), nullptr));
      return true;
    }
    if (op != kOpAdd) return *why = "unknown operation " + std::to_string(op), false;
    uint32_t d;
    if (!r.u32(&d) || d != dim) return *why = "vector dimension differs from the index's", false;
    // Each document needs at least id + vector + two lengths: bounds count before reserving.
    const size_t min_doc = 8 + size_mul(dim, 4, "dim") + 16;
    if (count > r.left() / min_doc) return *why = "document count exceeds the record", false;
    AddRecord all, fresh;
    for (uint64_t i = 0; i < count; ++i) {
      int64_t id;
      std::vector<float> v(dim);
      std::string text, meta;
      if (!r.i64(&id)) return *why = "short document", false;
      for (float& f : v)
        if (!r.f32(&f)) return *why = "short document", false;
      if (!r.bytes(&text) || !r.bytes(&meta)) return *why = "short document", false;
      if (id < 0) return *why = "negative id", false;
      if (present(id)) continue;  // applied before the last checkpoint
      fresh.ids.push_back(id);
      fresh.vectors.insert(fresh.vectors.end(), v.begin(), v.end());
      fresh.texts.push_back(std::move(text));
      fresh.metas.push_back(std::move(meta));
    }
    if (r.left() != 0) return *why = "trailing bytes", false;
    apply_add(fresh);
    return true;
  }

  void replay() {
    wal_fd = ::open(wal_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (wal_fd < 0) throw std::runtime_error("cannot open the write-ahead log " + wal_path + ": " + errno_text(errno));
    fsync_dir_of(wal_path);
    std::vector<uint8_t> b;
    {
      struct stat st;
      if (::fstat(wal_fd, &st) != 0) throw std::runtime_error(wal_path + ": fstat: " + errno_text(errno));
      b.resize(size_t(st.st_size));
      size_t got = 0;
      while (got < b.size()) {
        const ssize_t r = ::pread(wal_fd, b.data() + got, b.size() - got, off_t(got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) throw std::runtime_error(wal_path + ": read: " + (r < 0 ? errno_text(errno) : "short file"));
        got += size_t(r);
      }
    }
    size_t at = 0;
    while (at < b.size()) {
      const uint8_t* p;
      size_t n, end;
      if (!record_at(b, at, &p, &n, &end)) break;
      std::string why;
      try {
        if (!replay_payload(p, n, &why))
          throw std::runtime_error(wal_path + ": corrupt record at byte " + std::to_string(at) + ": " + why);
      } catch (const Error& e) {
        throw std::runtime_error(wal_path + ": record at byte " + std::to_string(at) + " cannot be applied: " + e.what());
      }
      at = end;
    }
    if (at < b.size()) {
      // A valid record anywhere after the bad one: the log is damaged, not torn.
      for (size_t q = at + 1; q + kHeaderBytes <= b.size(); ++q) {
        const uint8_t* p;
        size_t n, end;
        if (record_at(b, q, &p, &n, &end))
          throw std::runtime_error(wal_path + ": corrupt record at byte " + std::to_string(at) +
                                   " (followed by valid records; refusing to open)");
      }
      std::fprintf(stderr, "bertrank: %s: cut a torn record at byte %zu (%zu bytes; a write never acknowledged)\n",
                   wal_path.c_str(), at, b.size() - at);
      if (::ftruncate(wal_fd, off_t(at)) != 0 || ::fdatasync(wal_fd) != 0)
        throw std::runtime_error(wal_path + ": cannot cut the torn record: " + errno_text(errno));
    }
    wal_bytes = at;
  }

  // Appends one record durably; on failure the log is cut back to what it was.
  void append(const std::vector<uint8_t>& payload) {
    if (!broken.empty()) throw std::runtime_error("document store is read-only: " + broken);
    const std::vector<uint8_t> rec = make_record(payload);
    const uint64_t before = wal_bytes;
    try {
      write_all(wal_fd, rec.data(), rec.size());
      if (::fdatasync(wal_fd) != 0) throw std::runtime_error("fdatasync: " + errno_text(errno));
    } catch (const std::exception& e) {
      cut_back(before, e.what());
      throw std::runtime_error(wal_path + ": " + e.what() + " (the write was not done)");
    }
    wal_bytes = before + rec.size();
  }

  void cut_back(uint64_t size, const std::string& why) {
    if (::ftruncate(wal_fd, off_t(size)) != 0 || ::fdatasync(wal_fd) != 0)
      broken = wal_path + ": " + why + ", and the log could not be cut back: " + errno_text(errno);
    else
      wal_bytes = size;
  }

  void checkpoint_locked() {
    {
      std::shared_lock<WriterFirstMutex> g(rw);  // writers are excluded by `writer`
      index.save(opts.index_path);
    }
    if (::ftruncate(wal_fd, 0) != 0 || ::fsync(wal_fd) != 0)
      throw std::runtime_error(wal_path + ": cannot empty the log after a checkpoint: " + errno_text(errno));
    wal_bytes = 0;
    broken.clear();  // the index file now holds exactly what memory holds
  }

  void after_write() {
    writes.fetch_add(1);
    if (wal_bytes > opts.checkpoint_wal_bytes) {
      try {
        checkpoint_locked();
      } catch (const std::exception& e) {
        // The write is durable in the log; the checkpoint is retried after the next write.
        std::fprintf(stderr, "bertrank: checkpoint of %s failed: %s\n", opts.index_path.c_str(), e.what());
      }
    }
  }
};

DocumentStore::DocumentStore(StoreOptions options, const Model& encoder) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.opts = std::move(options);
  s.encoder = &encoder;
  s.wal_path = s.opts.index_path + ".wal";
  if (s.opts.index_path.empty()) throw std::invalid_argument("document store: no index path");
  try {
    s.lock = std::make_unique<FileLock>(s.opts.index_path, FileLock::Wait::no_wait);
  } catch (const FileLockBusy& e) {
    throw std::runtime_error("the index " + s.opts.index_path + " is being written by another process (" +
                             e.what() + ")");
  }
  std::error_code ec;
  if (std::filesystem::exists(s.opts.index_path, ec)) {
    s.index = Index::load(s.opts.index_path);
  } else {
    bertrank_index_params p = bertrank_index_default_params();
    p.bm25 = 1;
    s.index = Index(encoder, p);
    s.index.save(s.opts.index_path);
  }
  const bertrank_status st = bertrank_index_check_model(s.index.get(), encoder.get());
  if (st != BERTRANK_OK) throw std::runtime_error("index " + s.opts.index_path + ": " + bertrank_last_error());
  s.dim = size_t(bertrank_index_dim(s.index.get()));
  s.replay();
  s.recompute_max_id();
}

DocumentStore::~DocumentStore() {
  if (!impl_) return;
  try {
    std::lock_guard<std::mutex> w(impl_->writer);
    if (impl_->wal_bytes > 0) impl_->checkpoint_locked();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bertrank: checkpoint of %s at exit failed (the log keeps the writes): %s\n",
                 impl_->opts.index_path.c_str(), e.what());
  }
}

std::vector<int64_t> DocumentStore::add(const std::vector<StoreDocument>& docs, const bertrank_embed_params& params) {
  Impl& s = *impl_;
  if (docs.empty()) return {};
  std::unordered_set<int64_t> given;
  for (size_t i = 0; i < docs.size(); ++i) {
    const StoreDocument& d = docs[i];
    const std::string at = "documents[" + std::to_string(i) + "]";
    if (d.id < -1) throw std::invalid_argument(at + ": id " + std::to_string(d.id) + " is negative");
    if (d.id >= 0 && !given.insert(d.id).second)
      throw DocumentConflict(at + ": id " + std::to_string(d.id) + " is given twice");
    std::string why;
    if (!meta_ok(d.meta, &why)) throw std::invalid_argument(at + ".meta " + why);
  }
  {  // Cheap early refusal of present ids (checked again under the writer lock).
    std::shared_lock<WriterFirstMutex> g(s.rw);
    for (size_t i = 0; i < docs.size(); ++i)
      if (docs[i].id >= 0 && s.present(docs[i].id))
        throw already_present(i, docs[i].id);
  }
  // Embed outside every lock: searches and other writers go on meanwhile.
  std::vector<std::string> texts(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) texts[i] = docs[i].text;
  AddRecord a;
  a.vectors = s.encoder->embed(texts, params);
  a.texts = std::move(texts);

  std::lock_guard<std::mutex> w(s.writer);
  int64_t next = s.max_id;
  for (int64_t id : given) next = std::max(next, id);
  for (size_t i = 0; i < docs.size(); ++i) {
    int64_t id = docs[i].id;
    if (id >= 0 && s.present(id))
      throw already_present(i, id);
    if (id < 0) {
      if (next == INT64_MAX) throw DocumentConflict("no free document id left");
      id = ++next;
    }
    a.ids.push_back(id);
    a.metas.push_back(docs[i].meta);
  }
  const uint64_t before = s.wal_bytes;
  s.append(encode_add(a, s.dim));
  try {
    std::unique_lock<WriterFirstMutex> g(s.rw);
    s.apply_add(a);
  } catch (const std::exception& e) {
    s.cut_back(before, std::string("apply failed: ") + e.what());
    throw;
  }
  s.after_write();
  return a.ids;
}

size_t DocumentStore::remove(const std::vector<int64_t>& ids) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> w(s.writer);
  std::vector<int64_t> present;
  std::unordered_set<int64_t> seen;
  for (int64_t id : ids)
    if (seen.insert(id).second && s.present(id)) present.push_back(id);
  if (present.empty()) return 0;
  const uint64_t before = s.wal_bytes;
  s.append(encode_remove(present));
  size_t removed = 0;
  try {
    std::unique_lock<WriterFirstMutex> g(s.rw);
    check(bertrank_index_remove(s.index.get(), present.data(), present.size(), &removed));
  } catch (const std::exception& e) {
    s.cut_back(before, std::string("apply failed: ") + e.what());
    throw;
  }
  if (std::find(present.begin(), present.end(), s.max_id) != present.end()) s.recompute_max_id();
  s.after_write();
  return removed;
}

void DocumentStore::checkpoint() {
  std::lock_guard<std::mutex> w(impl_->writer);
  impl_->checkpoint_locked();
}

size_t DocumentStore::size() const {
  std::shared_lock<WriterFirstMutex> g(impl_->rw);
  return bertrank_index_size(impl_->index.get());
}

const std::string& DocumentStore::path() const { return impl_->opts.index_path; }
uint64_t DocumentStore::wal_bytes() const { return impl_->wal_bytes; }
uint64_t DocumentStore::writes() const { return impl_->writes; }

void DocumentStore::lock_shared() const { impl_->rw.lock_shared(); }
void DocumentStore::unlock_shared() const { impl_->rw.unlock_shared(); }
const bertrank_index* DocumentStore::index() const { return impl_->index.get(); }

}  // namespace bertrank::server
