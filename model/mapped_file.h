// mapped_file.h — a read-only memory map of a whole file (POSIX mmap), and file hashing.
//
// The model readers (safetensors, .brm) validate everything they read from the mapping against
// its size before use; this class only maps and unmaps. An empty file maps to {nullptr, 0}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace bertrank::model {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws std::runtime_error naming the path on any failure (missing, unreadable, a directory).
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void reset();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Tells the kernel that the whole pages inside [p, p + bytes) of a read-only file mapping are
// not needed now (madvise MADV_DONTNEED): they leave this process's resident set and are read
// back from the file if touched again. Used after the linear weights are packed into their own
// buffers, so that a loaded model does not keep both copies resident. Never fails (advice only).
void release_pages(const void* p, size_t bytes);

// SHA-256 of a byte range, as 64 lowercase hex digits (FIPS 180-4).
std::string sha256_hex(const uint8_t* data, size_t n);

// FNV-1a 64-bit hash of a byte range (offset basis 0xcbf29ce484222325, prime 0x100000001b3),
// continuing from `h` so that ranges can be chained.
uint64_t fnv1a64(const uint8_t* data, size_t n, uint64_t h = 0xcbf29ce484222325ull);

}  // namespace bertrank::model
