// The safetensors reader: a good file round-trips (F32/F16/BF16/F64), and every malformed file is
// refused with an error naming what is wrong. These run under ASan/UBSan in the sanitizer build.
#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>

#include "model/safetensors.h"
#include "model_test_util.h"
#include "test_paths.h"

using namespace bertrank;
using bertrank::test::raw_safetensors;

namespace {

std::string write_tmp(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string p = test::tmp_dir("safetensors") + "/" + name;
  test::write_bytes(p, bytes);
  return p;
}

// Expects open() to throw with `what` in the message.
void expect_refused(const std::string& name, const std::vector<uint8_t>& bytes, const std::string& what) {
  const std::string p = write_tmp(name, bytes);
  try {
    model::SafetensorsFile::open(p);
    ADD_FAILURE() << name << ": accepted, expected an error containing '" << what << "'";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << name << ": got '" << e.what() << "'";
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << name << ": error does not name the file";
  }
}

std::vector<uint8_t> floats_bytes(std::vector<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// A valid two-tensor file: a [2,3] F32 and a [4] F16.
std::vector<uint8_t> good_file() {
  std::vector<uint8_t> data = floats_bytes({1, 2, 3, 4, 5, 6});
  const uint16_t h[4] = {0x3c00, 0xc000, 0x3555, 0x0001};  // 1, -2, 0.333, smallest subnormal
  data.insert(data.end(), reinterpret_cast<const uint8_t*>(h), reinterpret_cast<const uint8_t*>(h) + 8);
  return raw_safetensors(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}})",
      data);
}

}  // namespace

TEST(Safetensors, ReadsAValidFile) {
  const std::string p = write_tmp("good.safetensors", good_file());
  auto st = model::SafetensorsFile::open(p);
  ASSERT_EQ(st.tensors().size(), 2u);
  EXPECT_EQ(st.metadata().at("format"), "pt");
  const auto* a = st.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(st.to_f32(*a), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const auto b = st.to_f32(*st.find("b"));
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -2.0f);
  EXPECT_NEAR(b[2], 0.33325195f, 1e-7);
  EXPECT_EQ(b[3], 5.9604645e-8f);
  EXPECT_EQ(st.find("missing"), nullptr);
}

TEST(Safetensors, ConvertsBf16AndF64AndRefusesIntegers) {
  std::vector<uint8_t> data = {0x80, 0x3f, 0x00, 0xc0};  // bf16 1.0, -2.0
  const double d[2] = {0.5, -0.25};
  data.insert(data.end(), reinterpret_cast<const uint8_t*>(d), reinterpret_cast<const uint8_t*>(d) + 16);
  data.insert(data.end(), 8, 0);  // one I64
  const std::string p = write_tmp(
      "mixed.safetensors",
      raw_safetensors(R"({"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
                      R"("y":{"dtype":"F64","shape":[2],"data_offsets":[4,20]},)"
                      R"("z":{"dtype":"I64","shape":[1],"data_offsets":[20,28]}})",
                      data));
  auto st = model::SafetensorsFile::open(p);
  EXPECT_EQ(st.to_f32(*st.find("x")), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(st.to_f32(*st.find("y")), (std::vector<float>{0.5f, -0.25f}));
  EXPECT_THROW(st.to_f32(*st.find("z")), std::runtime_error);
}

// safetensors.h said "header order"; tensors() is in name order (issue 13, item 11).
TEST(Safetensors, TensorsAreInNameOrderNotHeaderOrder) {
  const std::vector<uint8_t> data = floats_bytes({1, 2, 3});
  const std::string p = write_tmp(
      "order.safetensors",
      raw_safetensors(R"({"zeta":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("alpha":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                      R"("mid":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                      data));
  auto st = model::SafetensorsFile::open(p);
  std::vector<std::string> names;
  for (const auto& t : st.tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "mid", "zeta"}));
  EXPECT_EQ(st.to_f32(*st.find("zeta")), (std::vector<float>{1}));
}

TEST(Safetensors, RefusesBadFiles) {
  const std::vector<uint8_t> good = good_file();
  const auto d24 = floats_bytes({1, 2, 3, 4, 5, 6});
  auto one = [&](const std::string& entry, const std::vector<uint8_t>& data) {
    return raw_safetensors("{" + entry + "}", data);
  };
  expect_refused("empty", {}, "shorter than the 8-byte header length");
  expect_refused("four_bytes", {1, 2, 3, 4}, "shorter than the 8-byte header length");
  {
    auto b = good;
    test::put_u64(b, 0, 1ull << 62);
    expect_refused("huge_header_len", b, "exceeds the 100 MB limit");
  }
  {
    auto b = good;
    test::put_u64(b, 0, b.size());
    expect_refused("header_past_end", b, "runs past the end of the file");
  }
  expect_refused("trunc_in_header", std::vector<uint8_t>(good.begin(), good.begin() + 40), "runs past the end of the file");
  expect_refused("trunc_in_data", std::vector<uint8_t>(good.begin(), good.end() - 5), "past the end of the data");
  expect_refused("trunc_last_tensor", std::vector<uint8_t>(good.begin(), good.end() - 8), "past the end of the data");
  {
    auto b = good;
    b.push_back(0);
    expect_refused("trailing_bytes", b, "trailing bytes");
  }
  expect_refused("not_json", raw_safetensors("{\"a\": nope}", {}), "not valid JSON");
  expect_refused("not_object", raw_safetensors("[1,2,3]", {}), "not a JSON object");
  expect_refused("unknown_dtype", one(R"("a":{"dtype":"F12","shape":[6],"data_offsets":[0,24]})", d24),
                 "tensor 'a': unknown dtype 'F12'");
  expect_refused("offsets_past_end", one(R"("a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]})", d24),
                 "tensor 'a': data_offsets end 32 is past the end of the data");
  expect_refused("offsets_reversed", one(R"("a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]})", d24), "reversed");
  expect_refused("span_mismatch", one(R"("a":{"dtype":"F32","shape":[5],"data_offsets":[0,24]})", d24),
                 "shape and dtype give 20 bytes but data_offsets span 24");
  expect_refused("shape_overflow",
                 one(R"("a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,24]})", d24),
                 "element count overflows 64 bits");
  expect_refused("bytes_overflow", one(R"("a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,24]})", d24),
                 "byte size overflows 64 bits");
  expect_refused("negative_dim", one(R"("a":{"dtype":"F32","shape":[-6],"data_offsets":[0,24]})", d24),
                 "not a non-negative integer");
  expect_refused("missing_offsets", one(R"("a":{"dtype":"F32","shape":[6]})", d24), "'data_offsets' must be");
  expect_refused("extra_field", one(R"("a":{"dtype":"F32","shape":[6],"data_offsets":[0,24],"x":1})", d24),
                 "unknown field 'x'");
  expect_refused("overlap",
                 one(R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]})",
                     d24),
                 "overlaps");
  expect_refused("gap",
                 one(R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]})",
                     d24),
                 "gap of 8 bytes before tensor 'b'");
  expect_refused("duplicate_name",
                 one(R"("a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"a":{"dtype":"F32","shape":[3],"data_offsets":[12,24]})",
                     d24),
                 "key 'a' twice");
  expect_refused("deep_nesting",
                 raw_safetensors("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}", {}),
                 "tensor 'a': entry is not an object");
  expect_refused("metadata_not_strings", one(R"("__metadata__":{"x":1},"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]})", d24),
                 "__metadata__ value of 'x' is not a string");
}

TEST(Safetensors, RefusesTheRealCheckpointTruncatedAtSeveralOffsets) {
  const std::string src = test::weights_dir() + "/hf/synthetic-bert-cls/model.safetensors";
  if (!test::exists(src)) GTEST_SKIP() << "no " << src << " (run weights/convert_models.sh)";
  const auto bytes = test::read_bytes(src);
  for (size_t cut : {size_t(3), size_t(8), size_t(200), bytes.size() / 2, bytes.size() - 1}) {
    const std::string p = write_tmp("real_trunc.safetensors", std::vector<uint8_t>(bytes.begin(), bytes.begin() + cut));
    EXPECT_THROW(model::SafetensorsFile::open(p), std::runtime_error) << "cut at " << cut;
  }
  auto st = model::SafetensorsFile::open(src);
  EXPECT_NE(st.find("embeddings.word_embeddings.weight"), nullptr);
}

TEST(Sha256, KnownVectors) {
  const std::string abc = "abc";
  EXPECT_EQ(model::sha256_hex(reinterpret_cast<const uint8_t*>(abc.data()), 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(model::sha256_hex(nullptr, 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string s56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(model::sha256_hex(reinterpret_cast<const uint8_t*>(s56.data()), s56.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
