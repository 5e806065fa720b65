#include "model/model_file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "common/atomic_file.h"
#include "common/checked_size.h"
#include "common/json_strict.h"

namespace bertrank::model {

namespace {
uint64_t rd_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint32_t rd_u32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
void wr_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
void wr_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
uint64_t align_up(uint64_t x) { return (x + kBrmAlign - 1) / kBrmAlign * kBrmAlign; }
}  // namespace

std::string shape_str(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void write_model_file(const std::string& path, const nlohmann::json& meta_in, const std::vector<TensorToWrite>& tensors,
                      const std::function<void(const std::string&)>& check_before_rename) {
  nlohmann::json meta = meta_in;
  nlohmann::json table = nlohmann::json::array();
  std::set<std::string> names;
  uint64_t off = 0;
  std::vector<uint64_t> offsets, sizes;
  for (const auto& t : tensors) {
    if (!names.insert(t.name).second) throw std::runtime_error("write_model_file: duplicate tensor '" + t.name + "'");
    uint64_t numel = 1;
    for (uint64_t d : t.shape) numel *= d;
    const uint64_t nbytes = numel * 4;
    off = align_up(off);
    table.push_back({{"name", t.name}, {"dtype", "f32"}, {"shape", t.shape}, {"offset", off}, {"nbytes", nbytes}});
    offsets.push_back(off);
    sizes.push_back(nbytes);
    off += nbytes;
  }
  meta["tensors"] = table;
  const std::string js = meta.dump();
  const uint64_t meta_size = js.size();
  const uint64_t data_offset = align_up(kBrmHeaderSize + meta_size);
  const uint64_t data_size = align_up(off);
  const uint64_t file_size = data_offset + data_size;

  uint8_t hdr[kBrmHeaderSize] = {};
  std::memcpy(hdr, kBrmMagic, 8);
  wr_u32(hdr + 8, kBrmVersion);
  wr_u32(hdr + 12, kBrmHeaderSize);
  wr_u64(hdr + 16, file_size);
  wr_u64(hdr + 24, kBrmHeaderSize);
  wr_u64(hdr + 32, meta_size);
  wr_u64(hdr + 40, data_offset);
  wr_u64(hdr + 48, data_size);

  AtomicFileWriter f(path);  // unique temp, fsync, rename, dir fsync; temp removed on error
  uint64_t h = fnv1a64(hdr, 56);
  auto put = [&](const void* p, size_t n) {
    if (n == 0) return;
    f.write(p, n);
    h = fnv1a64(static_cast<const uint8_t*>(p), n, h);
  };
  const std::vector<uint8_t> zeros(kBrmAlign, 0);
  f.write(hdr, kBrmHeaderSize);  // checksum patched below
  put(js.data(), js.size());
  put(zeros.data(), size_t(data_offset - kBrmHeaderSize - meta_size));
  uint64_t pos = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    put(zeros.data(), size_t(offsets[i] - pos));
    put(tensors[i].data, size_t(sizes[i]));
    pos = offsets[i] + sizes[i];
  }
  put(zeros.data(), size_t(data_size - pos));
  uint8_t cs[8];
  wr_u64(cs, h);
  f.pwrite_at(56, cs, 8);
  if (check_before_rename) check_before_rename(f.temp_path());
  f.commit();
}

ModelFile ModelFile::open(const std::string& path) {
  ModelFile mf;
  mf.file_ = MappedFile(path);
  auto fail = [&](const std::string& what) { throw std::runtime_error(path + ": " + what); };
  const uint8_t* p = mf.file_.data();
  const uint64_t size = mf.file_.size();
  if (size < kBrmHeaderSize)
    fail("file is " + std::to_string(size) + " bytes, shorter than the " + std::to_string(kBrmHeaderSize) +
         "-byte header (truncated or not a bertrank model)");
  if (std::memcmp(p, kBrmMagic, 8) != 0) fail("bad magic: not a bertrank model file (.brm)");
  const uint32_t version = rd_u32(p + 8);
  if (version != kBrmVersion)
    fail("format version " + std::to_string(version) + " is not supported (this build reads version " +
         std::to_string(kBrmVersion) + ")");
  if (rd_u32(p + 12) != kBrmHeaderSize) fail("header_size is " + std::to_string(rd_u32(p + 12)) + ", expected 64");
  const uint64_t file_size = rd_u64(p + 16), meta_offset = rd_u64(p + 24), meta_size = rd_u64(p + 32),
                 data_offset = rd_u64(p + 40), data_size = rd_u64(p + 48), checksum = rd_u64(p + 56);
  if (file_size != size)
    fail("file is " + std::to_string(size) + " bytes but its header says " + std::to_string(file_size) +
         (size < file_size ? " (truncated)" : " (trailing bytes)"));
  if (meta_offset != kBrmHeaderSize) fail("meta_offset is " + std::to_string(meta_offset) + ", expected 64");
  if (meta_size > kBrmMaxMetaBytes || meta_size > size - kBrmHeaderSize)
    fail("meta_size " + std::to_string(meta_size) + " runs past the end of the file");
  if (data_offset != align_up(kBrmHeaderSize + meta_size))
    fail("data_offset " + std::to_string(data_offset) + " is not the metadata end rounded up to 64");
  if (data_offset > size || data_size != size - data_offset)
    fail("data_size " + std::to_string(data_size) + " disagrees with the file size");
  uint64_t h = fnv1a64(p, 56);
  h = fnv1a64(p + kBrmHeaderSize, size_t(size - kBrmHeaderSize), h);
  if (h != checksum) fail("checksum mismatch: the file is corrupt");

  const char* mb = reinterpret_cast<const char*>(p + meta_offset);
  StrictJson meta = json_parse_strict(mb, mb + meta_size);
  if (!meta.duplicate_key.empty()) fail("metadata " + meta.problem());
  if (!meta.ok()) fail("metadata is not a JSON object (" + meta.syntax_error + ")");
  if (!meta.value.is_object()) fail("metadata is not a JSON object");
  mf.meta_ = std::move(meta.value);
  if (mf.meta_.value("format", std::string()) != "bertrank-model") fail("metadata 'format' is not \"bertrank-model\"");
  auto tt = mf.meta_.find("tensors");
  if (tt == mf.meta_.end() || !tt->is_array()) fail("metadata has no 'tensors' array");

  struct Span { uint64_t b, e; size_t idx; };
  std::vector<Span> spans;
  for (const auto& e : *tt) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) fail("a 'tensors' entry has no string 'name'");
    TensorRef t;
    t.name = e["name"].get<std::string>();
    auto tfail = [&](const std::string& what) { fail("tensor '" + t.name + "': " + what); };
    if (!e.contains("dtype") || !e["dtype"].is_string()) tfail("missing 'dtype'");
    if (e["dtype"].get<std::string>() != "f32") tfail("unknown dtype '" + e["dtype"].get<std::string>() + "'");
    if (!e.contains("shape") || !e["shape"].is_array()) tfail("missing 'shape'");
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) tfail("shape has a dimension that is not a non-negative integer");
      const uint64_t v = d.get<uint64_t>();
      if (mul_overflows(numel, v, &numel)) tfail("shape's element count overflows 64 bits");
      t.shape.push_back(v);
    }
    uint64_t nbytes_shape = 0;
    if (mul_overflows(numel, uint64_t(4), &nbytes_shape)) tfail("shape's byte size overflows 64 bits");
    if (!e.contains("offset") || !e["offset"].is_number_unsigned() || !e.contains("nbytes") ||
        !e["nbytes"].is_number_unsigned())
      tfail("'offset' and 'nbytes' must be non-negative integers");
    const uint64_t off = e["offset"].get<uint64_t>(), nb = e["nbytes"].get<uint64_t>();
    if (nb != nbytes_shape)
      tfail("shape " + shape_str(t.shape) + " needs " + std::to_string(nbytes_shape) + " bytes, entry says " +
            std::to_string(nb));
    if (off % kBrmAlign) tfail("offset " + std::to_string(off) + " is not 64-byte aligned");
    uint64_t end = 0;
    if (add_overflows(off, nb, &end) || end > data_size)
      tfail("bytes [" + std::to_string(off) + ", +" + std::to_string(nb) + ") run past the end of the data (" +
            std::to_string(data_size) + " bytes)");
    if (mf.index_.count(t.name)) tfail("listed twice");
    t.numel = numel;
    t.data = reinterpret_cast<const float*>(p + data_offset + off);
    spans.push_back({off, end, mf.tensors_.size()});
    mf.index_[t.name] = mf.tensors_.size();
    mf.tensors_.push_back(std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.b != b.b ? a.b < b.b : a.e < b.e; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].b < spans[i - 1].e)
      fail("tensor '" + mf.tensors_[spans[i].idx].name + "' overlaps tensor '" + mf.tensors_[spans[i - 1].idx].name + "'");
  return mf;
}

const TensorRef* ModelFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorRef& ModelFile::require(const std::string& name, const std::vector<uint64_t>& shape) const {
  const TensorRef* t = find(name);
  if (!t) throw std::runtime_error(path() + ": tensor '" + name + "' is missing");
  if (t->shape != shape)
    throw std::runtime_error(path() + ": tensor '" + name + "' has shape " + shape_str(t->shape) + ", the config needs " +
                             shape_str(shape));
  return *t;
}

void ModelFile::release(const TensorRef& t) const {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(t.data);
  const size_t bytes = size_t(t.numel) * sizeof(float);
  // Only ranges inside this file's mapping (madvise on other memory could discard data).
  if (p >= file_.data() && bytes <= file_.size() && size_t(p - file_.data()) <= file_.size() - bytes)
    release_pages(p, bytes);
}

}  // namespace bertrank::model
