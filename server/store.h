// store.h — the index a server serves and writes: concurrent searches, serialised writers, and
// writes that survive kill -9 once acknowledged.
//
// Durability: a write-ahead log beside the index, "<index>.wal". A write (add or remove) is
// appended to the log as one record — length, CRC-32, payload (the documents' ids, vectors,
// texts and metadata, or the ids removed) — and fdatasync'ed *before* it is applied in memory
// and acknowledged, so an acknowledged write is on disk, and replaying the log reproduces the
// in-memory index exactly (the vectors are logged, so replay does not run the encoder).
// open() replays the log over the index file; a torn last record (a crash mid-append, never
// acknowledged) fails its length or CRC check and is cut off. checkpoint() saves the index
// atomically (common/atomic_file.h: temporary + fsync + rename) and then empties the log;
// a crash between the two replays records already in the file, which is harmless because
// each record says what it expects (an add of an id present, a remove of an id absent, is
// skipped on replay and only then).
//
// Log format: records back to back, each
//   magic u32 "BRW1" | payload length u64 | CRC-32 u32 of (the length's 8 bytes + payload) | payload
//   add payload:    op u8 = 1 | n u64 | dim u32 | n x (id i64 | dim x f32 | text len u64 | text |
//                   meta len u64 | meta)
//   remove payload: op u8 = 2 | n u64 | n x id i64
// little-endian; every length is checked against the bytes left. Replay stops at the first
// record that fails: if no valid record starts anywhere after it, it is a torn tail (cut, and
// said on stderr); otherwise the log is damaged and open() refuses it, naming the byte offset
// and leaving the file as it is. (A document text that itself holds a valid record could make
// a torn tail look damaged: open() then refuses rather than guesses; nothing is lost silently.)
//
// A write is validated completely (ids, meta JSON) before it is logged, so applying it cannot
// fail in practice; if it still does, the record is cut back from the log before the error is
// thrown (nothing acknowledged, log and memory agree), and if even that cut fails the store
// refuses further writes until a checkpoint succeeds. A crash between the log write and the
// reply may leave an unacknowledged write applied after restart (never the reverse).
//
// Concurrency: searches run under a shared lock and never wait for an encoder; a write embeds
// its texts first, outside any lock, then logs and applies under the exclusive lock, so a
// search sees the index before or after a write, never half of it. Writers are serialised (one
// log order = one apply order). For the life of the store the process holds the index's
// FileLock (common/file_lock.h), so `bertrank index add` from another process waits instead of
// losing an update.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bertrank/bertrank.hpp"

namespace bertrank::server {

struct StoreDocument {
  int64_t id = -1;   // -1: assign the next free id (max id + 1)
  std::string text;
  std::string meta;  // a JSON object's text, or ""
};

struct StoreOptions {
  std::string index_path;          // an existing index, or a new one to create empty (flat + BM25)
  size_t checkpoint_wal_bytes = 64 << 20;  // checkpoint when the log grows past this
};

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32()) of n bytes, continuing from crc (0 to
// start). The WAL's record checksum; exposed for tests.
uint32_t store_crc32(const void* data, size_t n, uint32_t crc = 0);

// Thrown by add() for an id already in the index or given twice in one call: two documents claim
// one id (the server answers 409 Conflict; a JSON schema cannot say "unique ids", so a request
// that is valid by the schema gets the status a schema-valid request may get).
class DocumentConflict : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class DocumentStore {
 public:
  // Locks, loads and replays. encoder: the index's model (checked; used by add()).
  // Throws std::runtime_error with a specific message (locked by pid N, corrupt log record at
  // byte B, wrong model, ...).
  DocumentStore(StoreOptions options, const Model& encoder);
  ~DocumentStore();  // checkpoints (errors are printed, not thrown)

  // Runs f(const bertrank_index*) under the shared lock and returns what it returns. Waiting
  // writers go first (readers do not starve them), so f must not call this store again: a
  // nested read() or size() behind a waiting writer would deadlock.
  template <class F>
  auto read(F&& f) const;

  // Adds documents (all or nothing); returns their ids. Throws bertrank::Error (engine) or
  // DocumentConflict (an id present, or given twice) or std::invalid_argument (a bad meta) before
  // anything is logged.
  std::vector<int64_t> add(const std::vector<StoreDocument>& docs, const bertrank_embed_params& params);
  // Removes the ids present; returns how many were.
  size_t remove(const std::vector<int64_t>& ids);
  void checkpoint();
  size_t size() const;
  const std::string& path() const;
  uint64_t wal_bytes() const;
  uint64_t writes() const;  // acknowledged writes since start

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  void lock_shared() const;
  void unlock_shared() const;
  const bertrank_index* index() const;
};

template <class F>
auto DocumentStore::read(F&& f) const {
  struct Guard {
    const DocumentStore* s;
    ~Guard() { s->unlock_shared(); }
  };
  lock_shared();
  Guard g{this};
  return f(index());
}

}  // namespace bertrank::server
