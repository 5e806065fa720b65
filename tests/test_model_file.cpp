// The .brm model file: writer/reader round trip, and ≥20 hand-made bad files each refused at load
// with an error naming what is wrong (run under ASan/UBSan in the sanitizer build). Also the
// converter's refusals (missing tensor, shape against config.json) on a hand-made HF folder.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include "model/convert.h"
#include "model/model.h"
#include "model/model_file.h"
#include "model_test_util.h"
#include "test_paths.h"

using namespace bertrank;
using nlohmann::json;

namespace {

std::string tmp_path(const std::string& name) { return test::tmp_dir("brm") + "/" + name; }

void expect_load_refused(const std::string& name, const std::vector<uint8_t>& bytes, const std::string& what) {
  const std::string p = tmp_path(name + ".brm");
  test::write_bytes(p, bytes);
  try {
    model::Model::load(p);
    ADD_FAILURE() << name << ": accepted, expected an error containing '" << what << "'";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << name << ": got '" << e.what() << "'";
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << name << ": error does not name the file";
  }
}

// Lays out the tiny model's tensors by hand so that the table can be corrupted.
struct RawModel {
  json meta;
  std::vector<uint8_t> data;
  explicit RawModel(const test::TinyModel& m) {
    meta = m.meta;
    json table = json::array();
    for (const auto& [name, v] : m.tensors) {
      data.resize((data.size() + 63) / 64 * 64);
      table.push_back({{"name", name}, {"dtype", "f32"}, {"shape", v.first}, {"offset", data.size()},
                       {"nbytes", v.second.size() * 4}});
      const auto* p = reinterpret_cast<const uint8_t*>(v.second.data());
      data.insert(data.end(), p, p + v.second.size() * 4);
    }
    meta["tensors"] = table;
  }
  json& entry(const std::string& name) {
    for (auto& e : meta["tensors"])
      if (e["name"] == name) return e;
    throw std::logic_error("no tensor " + name);
  }
  std::vector<uint8_t> bytes() const { return test::raw_brm(meta, data); }
};

}  // namespace

TEST(ModelFile, RoundTripAndEmbed) {
  test::TinyModel tiny;
  const std::string p = tmp_path("tiny.brm");
  tiny.write(p);
  auto f = model::ModelFile::open(p);
  ASSERT_EQ(f.tensors().size(), tiny.tensors.size());
  for (const auto& t : f.tensors()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u) << t.name;
    const auto& src = tiny.tensors.at(t.name);
    EXPECT_EQ(t.shape, src.first);
    EXPECT_EQ(std::memcmp(t.data, src.second.data(), src.second.size() * 4), 0) << t.name;
  }
  EXPECT_EQ(f.metadata()["head"]["pooling"], "mean");
  // The raw writer in the tests produces the same validated layout.
  RawModel raw(tiny);
  test::write_bytes(tmp_path("tiny_raw.brm"), raw.bytes());
  auto m = model::Model::load(tmp_path("tiny_raw.brm"));
  model::BiEncoder enc(m);
  ASSERT_EQ(enc.dim(), 8);
  model::EmbedInfo info;
  std::vector<float> out(3 * 8);
  enc.embed({"hello world", "the world, a hello.", "hello hello hello hello hello hello hello hello hello hello"},
            out.data(), &info);
  EXPECT_EQ(info.num_tokens, (std::vector<int32_t>{4, 8, 10}));
  EXPECT_EQ(info.truncated, (std::vector<uint8_t>{0, 0, 1}));
  EXPECT_EQ(info.num_truncated, 1u);
  double n = 0;
  for (int j = 0; j < 8; ++j) n += double(out[j]) * out[j];
  EXPECT_NEAR(n, 1.0, 1e-5);  // normalize: true
  // A tokenizer-only load sees the same vocabulary.
  EXPECT_EQ(model::load_model_tokenizer(p)->vocab_size(), 12u);
}

TEST(ModelFile, RefusesBadFiles) {
  test::TinyModel tiny;
  const std::string gp = tmp_path("good.brm");
  tiny.write(gp);
  const auto good = test::read_bytes(gp);
  const size_t n = good.size();
  uint64_t data_offset = 0;
  for (int i = 7; i >= 0; --i) data_offset = (data_offset << 8) | good[40 + size_t(i)];
  auto cut = [&](size_t k) { return std::vector<uint8_t>(good.begin(), good.begin() + long(k)); };

  // 1-5: truncations.
  expect_load_refused("trunc_0", cut(0), "shorter than the 64-byte header");
  expect_load_refused("trunc_40", cut(40), "shorter than the 64-byte header");
  expect_load_refused("trunc_meta", cut(100), "(truncated)");
  expect_load_refused("trunc_data", cut(size_t(data_offset) + 10), "(truncated)");
  expect_load_refused("trunc_last_byte", cut(n - 1), "(truncated)");
  // 6-8: identity.
  {
    auto b = good;
    b[0] = 'X';
    expect_load_refused("bad_magic", b, "bad magic");
  }
  {
    auto b = good;
    b[8] = 2;
    expect_load_refused("bad_version", b, "format version 2 is not supported");
  }
  {
    auto b = good;
    b.push_back(0);
    expect_load_refused("trailing", b, "(trailing bytes)");
  }
  // 9-11: flipped bytes anywhere are caught by the checksum.
  for (size_t at : {size_t(70), size_t(data_offset) + 5, n - 3}) {
    auto b = good;
    b[at] ^= 0x10;
    expect_load_refused("flip_" + std::to_string(at), b, "checksum mismatch");
  }
  {
    auto b = good;
    b[60] ^= 1;
    expect_load_refused("flip_checksum", b, "checksum mismatch");
  }
  // 12-14: header fields that disagree with each other.
  {
    auto b = good;
    test::put_u64(b, 32, ~0ull >> 1);
    expect_load_refused("huge_meta_size", b, "meta_size");
  }
  {
    auto b = good;
    test::put_u64(b, 40, data_offset + 64);
    expect_load_refused("bad_data_offset", b, "data_offset");
  }
  {
    auto b = good;
    b[12] = 32;
    expect_load_refused("bad_header_size", b, "header_size");
  }
  // 15-26: metadata and tensor table (checksums valid, so the structural checks are reached).
  const std::string qkv = "encoder.layer.0.attention.self.qkv.weight";
  {
    RawModel r(tiny);
    r.entry(qkv)["offset"] = r.data.size() - 64;
    expect_load_refused("offset_past_end", r.bytes(), "tensor '" + qkv + "': bytes [");
  }
  {
    RawModel r(tiny);
    r.entry(qkv)["offset"] = r.entry("embeddings.word_embeddings.weight")["offset"];
    expect_load_refused("overlap", r.bytes(), "overlaps");
  }
  {
    RawModel r(tiny);
    r.entry(qkv)["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40};
    expect_load_refused("shape_overflow", r.bytes(), "overflows 64 bits");
  }
  {
    RawModel r(tiny);
    r.entry(qkv)["dtype"] = "q4_0";
    expect_load_refused("unknown_dtype", r.bytes(), "tensor '" + qkv + "': unknown dtype 'q4_0'");
  }
  {
    RawModel r(tiny);
    auto& t = r.meta["tensors"];
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i]["name"] == "encoder.layer.0.output.LayerNorm.bias") t.erase(i);
    expect_load_refused("tensor_missing", r.bytes(), "tensor 'encoder.layer.0.output.LayerNorm.bias' is missing");
  }
  {
    RawModel r(tiny);
    r.meta["config"]["intermediate_size"] = 16;
    expect_load_refused("shape_vs_config", r.bytes(),
                        "tensor 'encoder.layer.0.intermediate.dense.weight' has shape [12, 8], the config needs [16, 8]");
  }
  {
    RawModel r(tiny);
    json e = r.entry(qkv);
    r.meta["tensors"].push_back(e);
    expect_load_refused("duplicate_tensor", r.bytes(), "tensor '" + qkv + "': listed twice");
  }
  {
    RawModel r(tiny);
    r.entry(qkv)["offset"] = r.entry(qkv)["offset"].get<uint64_t>() + 4;
    expect_load_refused("unaligned", r.bytes(), "not 64-byte aligned");
  }
  {
    RawModel r(tiny);
    r.entry(qkv)["nbytes"] = 4;
    expect_load_refused("nbytes_vs_shape", r.bytes(), "needs 768 bytes, entry says 4");
  }
  {
    RawModel r(tiny);
    r.meta["config"].erase("hidden_size");
    expect_load_refused("config_field_missing", r.bytes(), "config: missing field 'hidden_size'");
  }
  {
    RawModel r(tiny);
    r.meta["config"]["num_attention_heads"] = 3;
    expect_load_refused("heads_not_divisor", r.bytes(), "not divisible by num_attention_heads");
  }
  {
    RawModel r(tiny);
    r.meta["config"]["hidden_act"] = "relu";
    expect_load_refused("bad_activation", r.bytes(), "hidden_act 'relu' is not supported");
  }
  {
    RawModel r(tiny);
    r.meta["head"]["max_seq_length"] = 4096;
    expect_load_refused("max_seq_vs_positions", r.bytes(), "exceeds config.max_position_embeddings");
  }
  {
    RawModel r(tiny);
    r.meta["head"]["pooling"] = "weighted";
    expect_load_refused("bad_pooling", r.bytes(), "pooling 'weighted' is not supported");
  }
  {
    RawModel r(tiny);
    r.meta["tokenizer"]["vocab"].push_back("extra1");
    expect_load_refused("vocab_too_big", r.bytes(), "more than config.vocab_size");
  }
  {
    RawModel r(tiny);
    r.meta["tokenizer"]["vocab"][2] = "hello";  // duplicate token, and [CLS] is gone
    expect_load_refused("bad_vocab", r.bytes(), "tokenizer:");
  }
  {
    const std::string js = R"({"format":"bertrank-model","format":"bertrank-model","tensors":[]})";
    std::vector<uint8_t> b = test::raw_brm(json::object(), {});
    // Replace the metadata by a string with a duplicate key (same length bookkeeping by rebuild).
    std::vector<uint8_t> out(64 + (js.size() + 63) / 64 * 64, 0);
    std::memcpy(out.data(), b.data(), 64);
    test::put_u64(out, 16, out.size());
    test::put_u64(out, 32, js.size());
    test::put_u64(out, 40, out.size());
    test::put_u64(out, 48, 0);
    std::memcpy(out.data() + 64, js.data(), js.size());
    test::fix_brm_checksum(out);
    expect_load_refused("duplicate_meta_key", out, "metadata has the key 'format' twice");
  }
  {
    std::vector<uint8_t> b = test::raw_brm(json::array({1, 2}), {});
    expect_load_refused("meta_not_object", b, "metadata is not a JSON object");
  }
  {
    RawModel r(tiny);
    r.meta.erase("head");
    expect_load_refused("no_head", r.bytes(), "metadata has no 'head'");
  }
}

TEST(ModelFile, EncoderRefusesBadInputs) {
  test::TinyModel tiny;
  const std::string p = tmp_path("tiny_inputs.brm");
  tiny.write(p);
  auto m = model::Model::load(p);
  std::vector<float> out(64 * 8);
  const int32_t ids_bad[2] = {2, 99}, types[2] = {0, 0}, types_bad[2] = {0, 5}, ids[2] = {2, 3};
  const int32_t off[2] = {0, 2};
  EXPECT_THROW(m->encoder().forward(ids_bad, types, off, 1, out.data()), std::invalid_argument);
  EXPECT_THROW(m->encoder().forward(ids, types_bad, off, 1, out.data()), std::invalid_argument);
  std::vector<int32_t> long_ids(20, 5), long_types(20, 0);
  const int32_t off_long[2] = {0, 20};  // 20 > max_position_embeddings 16
  EXPECT_THROW(m->encoder().forward(long_ids.data(), long_types.data(), off_long, 1, out.data()), std::invalid_argument);
  model::BiEncoder enc(m);
  model::EmbedOptions opt;
  opt.max_length = 17;
  EXPECT_THROW(enc.embed({"hello"}, out.data(), nullptr, opt), std::invalid_argument);
}

namespace {
std::string write_hf_dir(const std::string& name, const test::TinyModel& tiny, const std::string& drop = "",
                         int ffn_in_config = 12) {
  return test::write_tiny_hf_dir(test::tmp_dir("hf_" + name), tiny, drop, ffn_in_config);
}
}  // namespace

TEST(Convert, HfFolderMatchesTheHandWrittenModel) {
  test::TinyModel tiny;
  const std::string dir = write_hf_dir("ok", tiny);
  const std::string out = tmp_path("converted.brm");
  model::convert_hf_dir(dir, out, {"tiny"});
  tiny.write(tmp_path("direct.brm"));
  auto a = model::Model::load(out), b = model::Model::load(tmp_path("direct.brm"));
  EXPECT_EQ(a->head().max_seq_length, 10);
  EXPECT_TRUE(a->head().normalize);
  EXPECT_EQ(a->name(), "tiny");
  EXPECT_EQ(a->fingerprint().rfind("sha256:", 0), 0u);
  model::BiEncoder ea(a), eb(b);
  std::vector<float> va(8), vb(8);
  ea.embed({"hello, the world."}, va.data());
  eb.embed({"hello, the world."}, vb.data());
  EXPECT_EQ(va, vb);
}

TEST(Convert, RefusesMissingTensorAndShapeAgainstConfig) {
  test::TinyModel tiny;
  try {
    model::convert_hf_dir(write_hf_dir("missing", tiny, "encoder.layer.0.attention.self.key.weight"),
                          tmp_path("x.brm"));
    ADD_FAILURE() << "accepted a checkpoint without a key projection";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'encoder.layer.0.attention.self.key.weight' is missing"),
              std::string::npos)
        << e.what();
  }
  try {
    model::convert_hf_dir(write_hf_dir("shape", tiny, "", 16), tmp_path("y.brm"));
    ADD_FAILURE() << "accepted intermediate_size 16 with [12, 8] weights";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'encoder.layer.0.intermediate.dense.weight' has shape [12, 8], config.json needs [16, 8]"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(test::exists(tmp_path("x.brm")));
}

TEST(ModelFile, ClassifierHeadTensorsAreCheckedAtLoad) {
  test::TinyModel tiny;
  tiny.meta["architecture"] = "BertForSequenceClassification";
  tiny.meta["head"] = {{"type", "classifier"}, {"num_labels", 1}, {"id2label", {{"0", "LABEL_0"}}}, {"max_seq_length", 16}};
  tiny.tensors["pooler.dense.weight"] = {{8, 8}, std::vector<float>(64, 0.01f)};
  tiny.tensors["pooler.dense.bias"] = {{8}, std::vector<float>(8, 0.0f)};
  tiny.tensors["classifier.weight"] = {{1, 8}, std::vector<float>(8, 0.1f)};
  tiny.tensors["classifier.bias"] = {{1}, std::vector<float>(1, 0.0f)};
  const std::string ok = tmp_path("cls_ok.brm");
  tiny.write(ok);
  auto m = model::Model::load(ok);
  EXPECT_EQ(m->head().type, model::HeadType::classifier);
  EXPECT_EQ(m->head().id2label.at("0"), "LABEL_0");
  EXPECT_THROW(model::BiEncoder{m}, std::invalid_argument);
  RawModel r(tiny);
  r.meta["head"]["num_labels"] = 3;
  expect_load_refused("classifier_labels", r.bytes(), "tensor 'classifier.weight' has shape [1, 8], the config needs [3, 8]");
  tiny.tensors.erase("pooler.dense.bias");
  expect_load_refused("no_pooler_bias", RawModel(tiny).bytes(), "tensor 'pooler.dense.bias' is missing");
}
