// Fuzz target: the .brm model loader (model/model.h, model_file.h), then one embedding or
// cross-encoder score of short texts. The input is one .brm file. Its checksum (and, when it
// disagrees with the input's length, the file_size / data_size fields) is recomputed before
// loading, so that mutations reach the metadata, tensor table and config checks instead of
// stopping at the checksum; the checksum and size checks themselves are unit-tested.
// Invariants: load returns or throws std::runtime_error / std::invalid_argument naming the
// file; a loaded model embeds or scores without crashing or a sanitizer report (the weights are
// fuzzed data, so the values themselves need not be finite).
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/cross_encoder.h"
#include "model/mapped_file.h"
#include "model/model.h"
#include "tests/fuzz/fuzz_util.h"

using namespace bertrank;

namespace {

void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}
uint64_t get_u64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[at + size_t(i)];
  return v;
}

void load_and_run(const std::vector<uint8_t>& bytes) {
  const std::string path = fuzz::write_input("input.brm", bytes.data(), bytes.size());
  std::shared_ptr<const model::Model> m;
  try {
    m = model::Model::load(path);
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(std::string(e.what()).find(path) != std::string::npos, std::string("error without the file: ") + e.what());
    return;
  } catch (const std::invalid_argument& e) {
    FUZZ_CHECK(std::string(e.what()).find(path) != std::string::npos, std::string("error without the file: ") + e.what());
    return;
  }
  const std::vector<std::string> texts = {"hello world", "the a , . hellos"};
  if (m->head().type == model::HeadType::embedding) {
    model::BiEncoder enc(m);
    std::vector<float> out(texts.size() * size_t(enc.dim()));
    model::EmbedInfo info;
    enc.embed(texts, out.data(), &info);
    FUZZ_CHECK(info.num_tokens.size() == texts.size(), "embed info size");
  } else {
    model::CrossEncoder ce(m);
    std::vector<float> out(texts.size() * size_t(m->head().num_labels));
    ce.score(texts[0], texts, out.data());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  omp_set_num_threads(1);  // one core per fuzzer; and deterministic runs
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> b(data, data + size);
  if (b.size() < 64) {
    load_and_run(b);
    return 0;
  }
  auto fix_checksum = [](std::vector<uint8_t>& v) {
    uint64_t h = model::fnv1a64(v.data(), 56);
    h = model::fnv1a64(v.data() + 64, v.size() - 64, h);
    put_u64(v, 56, h);
  };
  fix_checksum(b);
  load_and_run(b);
  if (get_u64(b, 16) != b.size()) {
    // Also with the sizes made consistent with the input's length.
    put_u64(b, 16, b.size());
    const uint64_t data_offset = get_u64(b, 40);
    if (data_offset <= b.size()) put_u64(b, 48, b.size() - data_offset);
    fix_checksum(b);
    load_and_run(b);
  }
  return 0;
}
