// Fuzz target: the safetensors reader (model/safetensors.h). The input is one .safetensors
// file. Invariants: open() returns or throws std::runtime_error naming the file; an opened
// file's tensors lie inside the mapping, their byte sizes match dtype and shape, find() finds
// each by name, and to_f32 either converts (numel values) or refuses naming the tensor.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "model/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

using namespace bertrank;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("input.safetensors", data, size);
  model::SafetensorsFile f;
  try {
    f = model::SafetensorsFile::open(path);
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(std::string(e.what()).find(path) != std::string::npos, std::string("error without the file: ") + e.what());
    return 0;
  }
  const uint8_t* base = f.file().data();
  const size_t fsize = f.file().size();
  for (const auto& t : f.tensors()) {
    FUZZ_CHECK(f.find(t.name) == &t, "find() does not return " + t.name);
    uint64_t numel = 1;
    for (uint64_t d : t.shape) numel *= d;  // open() checked that this does not overflow
    FUZZ_CHECK(numel == t.numel, "numel of " + t.name);
    FUZZ_CHECK(t.nbytes == numel * model::st_dtype_size(t.dtype), "nbytes of " + t.name);
    if (t.nbytes > 0) {
      FUZZ_CHECK(t.data >= base && t.data + t.nbytes <= base + fsize, "tensor outside the file: " + t.name);
    }
    try {
      const std::vector<float> v = f.to_f32(t);
      FUZZ_CHECK(v.size() == t.numel, "to_f32 size of " + t.name);
    } catch (const std::runtime_error& e) {
      FUZZ_CHECK(std::string(e.what()).find(t.name) != std::string::npos,
                 std::string("to_f32 error without the tensor name: ") + e.what());
    }
  }
  return 0;
}
