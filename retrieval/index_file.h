// index_file.h — the bertrank index file: container format, checksum, atomic save, validated load.
//
// FORMAT (version 1; all integers little-endian)
//
//   offset 0   header, 64 bytes
//       0  char[8]  magic "BRTKIDX\0"
//       8  u32      version (1)
//      12  u32      header_size (64)
//      16  u64      file_size (the whole file, trailer included)
//      24  u32      section_count (1..64)
//      28  u32      reserved (0)
//      32  u64      table_offset (64)
//      40  24 bytes reserved (0)
//   offset 64  section table: section_count entries of 32 bytes
//       0  u32 type (SectionType below; each type at most once)
//       4  u32 reserved (0)
//       8  u64 offset (multiple of 64, after the table, before the trailer)
//      16  u64 size   (bytes; offset + size <= file_size - 8; sections never overlap)
//      24  u64 reserved (0)
//   sections, each starting on a 64-byte boundary (zero padding between them)
//   trailer: u64 checksum = checksum64(bytes [0, file_size - 8)) (see checksum64 below)
//
// Section payloads (written by index.cpp / flat_index.cpp / ivf_index.cpp / bm25.cpp):
//   META (1)          UTF-8 JSON object: kind, dim, stride, storage, rescore, count, nlist,
//                     nprobe, model {fingerprint, path}, bm25 {...}, docs. Every count below
//                     is checked against it.
//   VEC_IDS (2)       count × i64 external ids (IVF: list after list)
//   VEC_CODES (3)     count × row_bytes (f32: stride*4, f16: stride*2, int8: stride)
//   SQ_PARAMS (4)     int8 only: stride × f32 vmin, then stride × f32 scale
//   RESCORE (5)       int8 with re-scoring only: count × dim × f32 exact copies
//   IVF_CENTROIDS (6) nlist × stride × f32
//   IVF_LIST_SIZES(7) nlist × u64 (sum = count)
//   DOCS (8)          u64 n; n × {i64 id, u64 text_len, u64 meta_len}; then the texts and
//                     metas (JSON text or empty), concatenated in entry order
//   BM25 (9)          see bm25.h
//
// Loading refuses (IndexFileError naming the field) anything that does not fit: wrong magic or
// version, a size that disagrees with the file, sections out of bounds / overlapping /
// misaligned / duplicated / unknown, checksum mismatch, counts that disagree with each other,
// duplicate ids, non-finite quantizer parameters. All arithmetic on sizes is overflow-checked.
//
// Saving goes through common/atomic_file.h: a unique temporary "<path>.tmp-<pid>-<random>" in the
// same directory, fsync, rename over <path>, fsync of the directory. A crash at any point leaves
// either the old or the new file; concurrent saves each install a complete file (last one wins);
// the next save removes temporaries left by killed writers. Saving does not lock: writers that
// load, modify and save (`bertrank index add/remove`) hold common/file_lock.h around all three.
// Test hook: BERTRANK_TEST_SAVE_EXIT_AFTER_BYTES=N makes the writer _exit(86) after writing N
// bytes of the temporary file (simulates a crash mid-save; see atomic_file.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace bertrank::retrieval {

class IndexFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class SectionType : uint32_t {
  meta = 1,
  vec_ids = 2,
  vec_codes = 3,
  sq_params = 4,
  rescore = 5,
  ivf_centroids = 6,
  ivf_list_sizes = 7,
  docs = 8,
  bm25 = 9,
};
const char* section_name(SectionType t);

constexpr uint32_t kIndexFormatVersion = 1;
constexpr size_t kIndexHeaderSize = 64;
constexpr size_t kSectionEntrySize = 32;
constexpr size_t kMaxSections = 64;

// 64-bit checksum (XXH64-style: four lanes of multiply-rotate over 32-byte stripes, seed 0).
class Checksum64 {
 public:
  void update(const void* data, size_t n);
  uint64_t digest() const;

 private:
  uint64_t v_[4] = {0x60ea27eeadc0b5d6ull, 0xc2b2ae3d27d4eb4full, 0ull, 0x61c8864e7a143579ull};
  uint8_t buf_[32];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};
uint64_t checksum64(const void* data, size_t n);

// Overflow-checked size arithmetic; throws IndexFileError naming `what`.
size_t checked_mul(size_t a, size_t b, const std::string& what);
size_t checked_add(size_t a, size_t b, const std::string& what);

// Collects sections (borrowed pointers or owned buffers) and writes the file atomically.
class IndexFileWriter {
 public:
  // Owned payload.
  void add(SectionType type, std::vector<uint8_t> bytes);
  // Borrowed payload made of pieces written back to back (must outlive write_atomic).
  void add_pieces(SectionType type, std::vector<std::pair<const void*, size_t>> pieces);
  void write_atomic(const std::string& path) const;

 private:
  struct Section {
    SectionType type;
    std::shared_ptr<std::vector<uint8_t>> owned;
    std::vector<std::pair<const void*, size_t>> pieces;
    size_t size = 0;
  };
  std::vector<Section> sections_;
};

// A loaded (read into memory or mmapped) and validated container. Section payloads stay valid
// while `keepalive()` (or the reader) lives.
class IndexFileReader {
 public:
  struct Options {
    bool mmap = false;
    bool verify_checksum = true;
  };
  IndexFileReader(const std::string& path, const Options& opts);

  struct Span {
    const uint8_t* data = nullptr;
    size_t size = 0;
  };
  bool has(SectionType t) const;
  // Throws IndexFileError "missing section X" when absent and required.
  Span get(SectionType t) const;
  const std::string& path() const { return path_; }
  std::shared_ptr<const void> keepalive() const { return holder_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  std::string path_;
  std::shared_ptr<const void> holder_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  std::vector<std::pair<SectionType, Span>> sections_;
};

// Bounded little-endian cursor over a section; every read names the field on failure.
class ByteCursor {
 public:
  ByteCursor(const IndexFileReader& r, SectionType t, IndexFileReader::Span s)
      : r_(r), t_(t), p_(s.data), end_(s.data + s.size) {}
  uint32_t u32(const char* field);
  uint64_t u64(const char* field);
  int64_t i64(const char* field);
  float f32(const char* field);
  const uint8_t* bytes(size_t n, const char* field);
  size_t remaining() const { return (size_t)(end_ - p_); }
  void expect_end();
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const IndexFileReader& r_;
  SectionType t_;
  const uint8_t* p_;
  const uint8_t* end_;
};

// Little-endian appenders for building owned sections.
void put_u32(std::vector<uint8_t>& b, uint32_t v);
void put_u64(std::vector<uint8_t>& b, uint64_t v);
void put_i64(std::vector<uint8_t>& b, int64_t v);
void put_bytes(std::vector<uint8_t>& b, const void* p, size_t n);

}  // namespace bertrank::retrieval
