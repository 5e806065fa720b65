#include "retrieval/index_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/checked_size.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "index files are little-endian");

namespace bertrank::retrieval {

const char* section_name(SectionType t) {
  switch (t) {
    case SectionType::meta: return "META";
    case SectionType::vec_ids: return "VEC_IDS";
    case SectionType::vec_codes: return "VEC_CODES";
    case SectionType::sq_params: return "SQ_PARAMS";
    case SectionType::rescore: return "RESCORE";
    case SectionType::ivf_centroids: return "IVF_CENTROIDS";
    case SectionType::ivf_list_sizes: return "IVF_LIST_SIZES";
    case SectionType::docs: return "DOCS";
    case SectionType::bm25: return "BM25";
  }
  return "UNKNOWN";
}

// ---- checksum -------------------------------------------------------------------------------
namespace {
constexpr uint64_t P1 = 0x9E3779B185EBCA87ull, P2 = 0xC2B2AE3D27D4EB4Full,
                   P3 = 0x165667B19E3779F9ull, P4 = 0x85EBCA77C2B2AE63ull,
                   P5 = 0x27D4EB2F165667C5ull;
inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t round1(uint64_t acc, uint64_t in) {
  acc += in * P2;
  acc = rotl(acc, 31);
  return acc * P1;
}
inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
}  // namespace

void Checksum64::update(const void* data, size_t n) {
  const uint8_t* p = (const uint8_t*)data;
  total_ += n;
  if (buf_len_) {
    const size_t take = std::min(n, 32 - buf_len_);
    std::memcpy(buf_ + buf_len_, p, take);
    buf_len_ += take;
    p += take;
    n -= take;
    if (buf_len_ < 32) return;
    for (int i = 0; i < 4; ++i) v_[i] = round1(v_[i], load64(buf_ + 8 * i));
    buf_len_ = 0;
  }
  while (n >= 32) {
    v_[0] = round1(v_[0], load64(p));
    v_[1] = round1(v_[1], load64(p + 8));
    v_[2] = round1(v_[2], load64(p + 16));
    v_[3] = round1(v_[3], load64(p + 24));
    p += 32;
    n -= 32;
  }
  std::memcpy(buf_, p, n);
  buf_len_ = n;
}

uint64_t Checksum64::digest() const {
  uint64_t h = rotl(v_[0], 1) + rotl(v_[1], 7) + rotl(v_[2], 12) + rotl(v_[3], 18);
  for (int i = 0; i < 4; ++i) {
    h ^= round1(0, v_[i]);
    h = h * P1 + P4;
  }
  h += total_;
  const uint8_t* p = buf_;
  size_t n = buf_len_;
  for (; n >= 8; p += 8, n -= 8) {
    h ^= round1(0, load64(p));
    h = rotl(h, 27) * P1 + P4;
  }
  for (; n > 0; ++p, --n) {
    h ^= (*p) * P5;
    h = rotl(h, 11) * P1;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

uint64_t checksum64(const void* data, size_t n) {
  Checksum64 c;
  c.update(data, n);
  return c.digest();
}

size_t checked_mul(size_t a, size_t b, const std::string& what) {
  size_t r;
  if (mul_overflows(a, b, &r)) throw IndexFileError(what + ": size overflows");
  return r;
}
size_t checked_add(size_t a, size_t b, const std::string& what) {
  size_t r;
  if (add_overflows(a, b, &r)) throw IndexFileError(what + ": size overflows");
  return r;
}

void put_u32(std::vector<uint8_t>& b, uint32_t v) { put_bytes(b, &v, 4); }
void put_u64(std::vector<uint8_t>& b, uint64_t v) { put_bytes(b, &v, 8); }
void put_i64(std::vector<uint8_t>& b, int64_t v) { put_bytes(b, &v, 8); }
void put_bytes(std::vector<uint8_t>& b, const void* p, size_t n) {
  if (n) b.insert(b.end(), (const uint8_t*)p, (const uint8_t*)p + n);
}

// ---- writer ---------------------------------------------------------------------------------
void IndexFileWriter::add(SectionType type, std::vector<uint8_t> bytes) {
  Section s;
  s.type = type;
  s.owned = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  s.size = s.owned->size();
  s.pieces.push_back({s.owned->data(), s.owned->size()});
  sections_.push_back(std::move(s));
}

void IndexFileWriter::add_pieces(SectionType type,
                                 std::vector<std::pair<const void*, size_t>> pieces) {
  Section s;
  s.type = type;
  for (auto& p : pieces) s.size += p.second;
  s.pieces = std::move(pieces);
  sections_.push_back(std::move(s));
}

namespace {
inline size_t align64(size_t x) { return (x + 63) & ~size_t(63); }

// Appends to the atomic writer and checksums what it appends.
struct SummingWriter {
  AtomicFileWriter& out;
  Checksum64 sum;
  void write(const void* data, size_t n) {
    sum.update(data, n);
    out.write(data, n);
  }
  void zeros(size_t n) {
    static const uint8_t z[64] = {};
    while (n) {
      const size_t c = std::min<size_t>(n, 64);
      write(z, c);
      n -= c;
    }
  }
};
}  // namespace

void IndexFileWriter::write_atomic(const std::string& path) const {
  if (sections_.empty() || sections_.size() > kMaxSections)
    throw std::runtime_error("index writer: bad section count");
  // Layout.
  const size_t table_end = kIndexHeaderSize + sections_.size() * kSectionEntrySize;
  std::vector<uint64_t> offsets;
  size_t pos = align64(table_end);
  for (const auto& s : sections_) {
    offsets.push_back(pos);
    pos = align64(pos + s.size);
  }
  const size_t file_size = pos + 8;

  std::vector<uint8_t> head(kIndexHeaderSize, 0);
  std::memcpy(head.data(), "BRTKIDX\0", 8);
  const uint32_t version = kIndexFormatVersion, hsize = kIndexHeaderSize,
                 count = (uint32_t)sections_.size();
  const uint64_t fsize = file_size, toff = kIndexHeaderSize;
  std::memcpy(head.data() + 8, &version, 4);
  std::memcpy(head.data() + 12, &hsize, 4);
  std::memcpy(head.data() + 16, &fsize, 8);
  std::memcpy(head.data() + 24, &count, 4);
  std::memcpy(head.data() + 32, &toff, 8);
  for (size_t i = 0; i < sections_.size(); ++i) {
    uint8_t e[kSectionEntrySize] = {};
    const uint32_t t = (uint32_t)sections_[i].type;
    const uint64_t off = offsets[i], sz = sections_[i].size;
    std::memcpy(e, &t, 4);
    std::memcpy(e + 8, &off, 8);
    std::memcpy(e + 16, &sz, 8);
    head.insert(head.end(), e, e + kSectionEntrySize);
  }

  AtomicFileWriter file(path);  // unique temp, fsync, rename, dir fsync; temp removed on error
  SummingWriter w{file, {}};
  w.write(head.data(), head.size());
  size_t at = head.size();
  for (size_t i = 0; i < sections_.size(); ++i) {
    w.zeros(offsets[i] - at);
    for (const auto& p : sections_[i].pieces)
      if (p.second) w.write(p.first, p.second);
    at = offsets[i] + sections_[i].size;
  }
  w.zeros(file_size - 8 - at);
  const uint64_t sum = w.sum.digest();
  file.write(&sum, 8);
  file.commit();
}

// ---- reader ---------------------------------------------------------------------------------
namespace {
struct Mapping {
  void* p = nullptr;
  size_t n = 0;
  ~Mapping() {
    if (p) munmap(p, n);
  }
};
}  // namespace

void IndexFileReader::fail(const std::string& what) const {
  throw IndexFileError("index file '" + path_ + "': " + what);
}

IndexFileReader::IndexFileReader(const std::string& path, const Options& opts) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    fail(std::string("cannot stat: ") + std::strerror(errno));
  }
  size_ = (size_t)st.st_size;
  if (size_ < kIndexHeaderSize + 8) {
    ::close(fd);
    fail("file is " + std::to_string(size_) + " bytes, smaller than the 72-byte minimum (truncated?)");
  }
  if (opts.mmap) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail(std::string("mmap failed: ") + std::strerror(errno));
    auto m = std::make_shared<Mapping>();
    m->p = p;
    m->n = size_;
    base_ = (const uint8_t*)p;
    holder_ = m;
  } else {
    auto buf = std::make_shared<std::vector<uint8_t>>(size_);
    size_t got = 0;
    while (got < size_) {
      const ssize_t r = ::read(fd, buf->data() + got, size_ - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        ::close(fd);
        fail("short read");
      }
      got += (size_t)r;
    }
    ::close(fd);
    base_ = buf->data();
    holder_ = buf;
  }

  auto rd32 = [&](size_t off) { uint32_t v; std::memcpy(&v, base_ + off, 4); return v; };
  auto rd64 = [&](size_t off) { uint64_t v; std::memcpy(&v, base_ + off, 8); return v; };
  if (std::memcmp(base_, "BRTKIDX\0", 8) != 0) fail("header.magic: not a bertrank index (bad magic)");
  const uint32_t version = rd32(8);
  if (version != kIndexFormatVersion)
    fail("header.version: " + std::to_string(version) + " is not supported (this build reads " +
         std::to_string(kIndexFormatVersion) + ")");
  if (rd32(12) != kIndexHeaderSize) fail("header.header_size: " + std::to_string(rd32(12)) + ", expected 64");
  const uint64_t fsize = rd64(16);
  if (fsize != size_)
    fail("header.file_size: says " + std::to_string(fsize) + " bytes but the file has " +
         std::to_string(size_) + " (truncated or appended to)");
  const uint32_t count = rd32(24);
  if (count == 0 || count > kMaxSections)
    fail("header.section_count: " + std::to_string(count) + " is outside 1.." + std::to_string(kMaxSections));
  if (rd64(32) != kIndexHeaderSize) fail("header.table_offset: " + std::to_string(rd64(32)) + ", expected 64");
  const size_t table_end = kIndexHeaderSize + (size_t)count * kSectionEntrySize;
  const size_t payload_end = size_ - 8;
  if (table_end > payload_end) fail("header.section_count: section table runs past the end of the file");
  if (opts.verify_checksum) {
    const uint64_t want = rd64(payload_end);
    const uint64_t got = checksum64(base_, payload_end);
    if (want != got) fail("trailer.checksum: mismatch (file is corrupt)");
  }
  std::vector<std::pair<size_t, size_t>> ranges;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = kIndexHeaderSize + (size_t)i * kSectionEntrySize;
    const uint32_t type = rd32(e);
    const uint64_t off = rd64(e + 8), sz = rd64(e + 16);
    const std::string where = "section_table[" + std::to_string(i) + "]";
    if (type < 1 || type > 9) fail(where + ".type: unknown section type " + std::to_string(type));
    const SectionType t = (SectionType)type;
    const std::string name = where + " (" + section_name(t) + ")";
    if (has(t)) fail(name + ".type: duplicate section");
    if (off % 64 != 0) fail(name + ".offset: " + std::to_string(off) + " is not 64-byte aligned");
    if (off < table_end) fail(name + ".offset: " + std::to_string(off) + " overlaps the header or table");
    uint64_t end;
    if (add_overflows(off, sz, &end) || end > payload_end)
      fail(name + ".size: offset " + std::to_string(off) + " + size " + std::to_string(sz) +
           " runs past the end of the data (" + std::to_string(payload_end) + ")");
    ranges.push_back({(size_t)off, (size_t)end});
    sections_.push_back({t, Span{base_ + off, (size_t)sz}});
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) fail("section_table: sections overlap");
}

bool IndexFileReader::has(SectionType t) const {
  for (const auto& s : sections_)
    if (s.first == t) return true;
  return false;
}

IndexFileReader::Span IndexFileReader::get(SectionType t) const {
  for (const auto& s : sections_)
    if (s.first == t) return s.second;
  fail(std::string("missing section ") + section_name(t));
}

// ---- cursor ---------------------------------------------------------------------------------
void ByteCursor::fail(const std::string& what) const {
  r_.fail(std::string("section ") + section_name(t_) + ": " + what);
}
const uint8_t* ByteCursor::bytes(size_t n, const char* field) {
  if (n > remaining())
    fail(std::string(field) + ": needs " + std::to_string(n) + " bytes but only " +
         std::to_string(remaining()) + " remain");
  const uint8_t* p = p_;
  p_ += n;
  return p;
}
uint32_t ByteCursor::u32(const char* f) { uint32_t v; std::memcpy(&v, bytes(4, f), 4); return v; }
uint64_t ByteCursor::u64(const char* f) { uint64_t v; std::memcpy(&v, bytes(8, f), 8); return v; }
int64_t ByteCursor::i64(const char* f) { int64_t v; std::memcpy(&v, bytes(8, f), 8); return v; }
float ByteCursor::f32(const char* f) { float v; std::memcpy(&v, bytes(4, f), 4); return v; }
void ByteCursor::expect_end() {
  if (remaining() != 0) fail(std::to_string(remaining()) + " unexpected trailing bytes");
}

}  // namespace bertrank::retrieval
