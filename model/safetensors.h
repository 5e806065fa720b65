// safetensors.h — a validating reader of Hugging Face .safetensors files (memory-mapped).
//
// Format (https://github.com/huggingface/safetensors, "Format"):
//   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
//   bytes [8, 8+N)      the header: a UTF-8 JSON object. Each key except "__metadata__" names a
//                       tensor: {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [b, e]};
//                       "__metadata__", if present, maps strings to strings.
//   bytes [8+N, end)    the data buffer; a tensor's bytes are [8+N+b, 8+N+e), row-major,
//                       little-endian.
//
// open() refuses, with an error naming the file and the tensor or field, anything that is not
// exactly that, as the reference implementation does: a file shorter than 8 bytes; N larger
// than the file or than 100 MB; a header that is not a JSON object, or holds duplicate keys;
// a tensor entry with a missing or mistyped field, an unknown dtype, a negative dimension,
// b > e; a shape whose element count or byte size overflows 64 bits or differs from e - b;
// offsets that overlap, leave a gap, or do not end exactly at the end of the file. All size
// arithmetic is overflow-checked; nothing read from the file is trusted before it is checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/mapped_file.h"

namespace bertrank::model {

enum class StDtype { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2 };
const char* st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<uint64_t> shape;
  uint64_t numel = 0;
  const uint8_t* data = nullptr;  // inside the mapping; may be unaligned
  size_t nbytes = 0;
};

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

  // Maps and validates the whole file. Throws std::runtime_error("<path>: <what is wrong>").
  static SafetensorsFile open(const std::string& path);

  // Sorted by name (nlohmann::json keeps object keys sorted), not in the order of the header.
  const std::vector<StTensor>& tensors() const { return tensors_; }
  const StTensor* find(const std::string& name) const;               // null if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const MappedFile& file() const { return file_; }

  // The tensor's values as float32 (F32 copied; F16, BF16, F64 converted). Throws for other
  // dtypes, naming the tensor.
  std::vector<float> to_f32(const StTensor& t) const;

 private:
  MappedFile file_;
  std::vector<StTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace bertrank::model
