#include "model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/checked_size.h"
#include "common/half.h"
#include "common/json_strict.h"

namespace bertrank::model {

namespace {
struct DtypeInfo {
  const char* name;
  StDtype dtype;
  size_t size;
};
constexpr DtypeInfo kDtypes[] = {
    {"BOOL", StDtype::BOOL, 1}, {"U8", StDtype::U8, 1},       {"I8", StDtype::I8, 1},
    {"I16", StDtype::I16, 2},   {"U16", StDtype::U16, 2},     {"F16", StDtype::F16, 2},
    {"BF16", StDtype::BF16, 2}, {"I32", StDtype::I32, 4},     {"U32", StDtype::U32, 4},
    {"F32", StDtype::F32, 4},   {"F64", StDtype::F64, 8},     {"I64", StDtype::I64, 8},
    {"U64", StDtype::U64, 8},   {"F8_E4M3", StDtype::F8_E4M3, 1}, {"F8_E5M2", StDtype::F8_E5M2, 1},
};
}  // namespace

const char* st_dtype_name(StDtype d) {
  for (const auto& i : kDtypes)
    if (i.dtype == d) return i.name;
  return "?";
}
size_t st_dtype_size(StDtype d) {
  for (const auto& i : kDtypes)
    if (i.dtype == d) return i.size;
  return 0;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile st;
  st.file_ = MappedFile(path);
  auto fail = [&](const std::string& what) -> void { throw std::runtime_error(path + ": " + what); };
  const uint8_t* base = st.file_.data();
  const uint64_t size = st.file_.size();
  if (size < 8) fail("file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
  if (n > kMaxHeaderBytes) fail("header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > size - 8)
    fail("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
  if (n < 2 || base[8] != '{') fail("header is not a JSON object (must start with '{')");
  const char* hb = reinterpret_cast<const char*>(base + 8);
  StrictJson parsed = json_parse_strict(hb, hb + n);
  if (!parsed.ok()) fail("header " + parsed.problem());
  const nlohmann::json h = std::move(parsed.value);
  if (!h.is_object()) fail("header is not a JSON object");

  const uint64_t data_start = 8 + n, data_len = size - data_start;
  struct Span { uint64_t b, e; size_t idx; };
  std::vector<Span> spans;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ value of '" + m.key() + "' is not a string");
        st.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto tfail = [&](const std::string& what) { fail("tensor '" + name + "': " + what); };
    if (!v.is_object()) tfail("entry is not an object");
    for (auto f = v.begin(); f != v.end(); ++f)
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets") tfail("unknown field '" + f.key() + "'");
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) tfail("missing or non-string 'dtype'");
    StTensor t;
    t.name = name;
    const std::string dts = dt->get<std::string>();
    const DtypeInfo* info = nullptr;
    for (const auto& d : kDtypes)
      if (dts == d.name) info = &d;
    if (!info) tfail("unknown dtype '" + dts + "'");
    t.dtype = info->dtype;
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) tfail("missing or non-array 'shape'");
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) tfail("shape has a dimension that is not a non-negative integer");
      const uint64_t dim = d.get<uint64_t>();
      if (mul_overflows(numel, dim, &numel)) tfail("shape's element count overflows 64 bits");
      t.shape.push_back(dim);
    }
    uint64_t nbytes = 0;
    if (mul_overflows(numel, uint64_t(info->size), &nbytes)) tfail("shape's byte size overflows 64 bits");
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      tfail("'data_offsets' must be two non-negative integers");
    const uint64_t b = (*off)[0].get<uint64_t>(), e = (*off)[1].get<uint64_t>();
    if (b > e) tfail("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] are reversed");
    if (e > data_len)
      tfail("data_offsets end " + std::to_string(e) + " is past the end of the data (" + std::to_string(data_len) +
            " bytes)");
    if (e - b != nbytes)
      tfail("shape and dtype give " + std::to_string(nbytes) + " bytes but data_offsets span " +
            std::to_string(e - b));
    t.numel = numel;
    t.nbytes = size_t(nbytes);
    t.data = base + data_start + b;
    spans.push_back({b, e, st.tensors_.size()});
    st.index_[name] = st.tensors_.size();
    st.tensors_.push_back(std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.b != y.b ? x.b < y.b : x.e < y.e; });
  uint64_t cur = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const std::string& nm = st.tensors_[spans[i].idx].name;
    if (spans[i].b < cur)
      fail("tensor '" + nm + "' overlaps tensor '" + st.tensors_[spans[i - 1].idx].name + "'");
    if (spans[i].b > cur) fail("gap of " + std::to_string(spans[i].b - cur) + " bytes before tensor '" + nm + "'");
    cur = spans[i].e;
  }
  if (cur != data_len)
    fail("tensors cover " + std::to_string(cur) + " of " + std::to_string(data_len) +
         " data bytes (trailing bytes or truncated file)");
  // tensors_ is in name order (nlohmann sorts object keys); nothing depends on the order.
  return st;
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<float> SafetensorsFile::to_f32(const StTensor& t) const {
  std::vector<float> out(size_t(t.numel));
  switch (t.dtype) {
    case StDtype::F32:
      if (t.nbytes) std::memcpy(out.data(), t.data, t.nbytes);
      break;
    case StDtype::F16:
    case StDtype::BF16:
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t v;
        std::memcpy(&v, t.data + 2 * i, 2);
        out[i] = t.dtype == StDtype::F16 ? half_to_float(v) : bf16_to_float(v);
      }
      break;
    case StDtype::F64:
      for (size_t i = 0; i < out.size(); ++i) {
        double v;
        std::memcpy(&v, t.data + 8 * i, 8);
        out[i] = float(v);
      }
      break;
    default:
      throw std::runtime_error(file_.path() + ": tensor '" + t.name + "' has dtype " + st_dtype_name(t.dtype) +
                               ", not a floating-point type");
  }
  return out;
}

}  // namespace bertrank::model
