// The per-architecture descriptions (model/arch.h): the registry refuses what it does not
// cover, naming what it does; BERT's tensor map covers every tensor of the synthetic
// checkpoints and produces exactly the engine tensors the encoder and heads read; the .brm
// names the architecture only when it is not BERT.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <set>

#include "model/arch.h"
#include "model/config.h"
#include "model/convert.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "tests/model_test_util.h"
#include "tests/test_paths.h"
#include "tests/test_util.h"

using namespace bertrank;
using nlohmann::json;

namespace {

using bertrank::test::error_of;

json read_json(const std::string& p) {
  std::ifstream in(p);
  return json::parse(in);
}

// Checkpoint tensor names without the architecture's prefix.
std::set<std::string> checkpoint_names(const std::string& safetensors, const model::Architecture& arch) {
  std::set<std::string> out;
  const model::SafetensorsFile st = model::SafetensorsFile::open(safetensors);
  for (const auto& t : st.tensors()) {
    std::string n = t.name;
    for (const auto& p : arch.tensor_prefixes)
      if (n.rfind(p, 0) == 0) n = n.substr(p.size());
    out.insert(n);
  }
  return out;
}

struct Mapped {
  std::set<std::string> sources, engine;
};

Mapped map_of(const model::Architecture& arch, const model::BertConfig& cfg, const model::HeadConfig& head,
              const std::set<std::string>& present) {
  Mapped m;
  for (const auto& t : arch.tensor_map(cfg, head, [&](const std::string& n) { return present.count(n) > 0; })) {
    EXPECT_TRUE(m.engine.insert(t.name).second) << "engine tensor mapped twice: " << t.name;
    uint64_t numel = 1, src_numel = 1;
    for (uint64_t d : t.shape) numel *= d;
    for (uint64_t d : t.source_shape) src_numel *= d;
    EXPECT_EQ(numel, src_numel * t.sources.size()) << t.name << ": sources do not fill the tensor";
    for (const auto& s : t.sources) EXPECT_TRUE(m.sources.insert(s).second) << "source used twice: " << s;
  }
  return m;
}

std::set<std::string> keys(const test::TinyModel& tiny) {
  std::set<std::string> out;
  for (const auto& [name, v] : tiny.tensors) out.insert(name);
  return out;
}

}  // namespace

TEST(Architecture, RegistryRefusesUnknownModelTypeNamingTheSupported) {
  EXPECT_EQ(model::find_architecture("bert").name, "bert");
  EXPECT_EQ(model::supported_model_types(), "bert");
  const std::string e = error_of([] { model::find_architecture("xlm-roberta"); });
  EXPECT_NE(e.find("model_type 'xlm-roberta' is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("supported: bert"), std::string::npos) << e;
  // Through config.json (the converter) and through a model file's config.
  const std::string c = error_of([] { model::BertConfig::from_hf_json({{"model_type", "gpt2"}}); });
  EXPECT_NE(c.find("config.json: model_type 'gpt2' is not supported (supported: bert)"), std::string::npos) << c;
  test::TinyModel tiny;
  tiny.meta["config"]["model_type"] = "roberta";
  const std::string path = test::tmp_dir("arch") + "/roberta.brm";
  tiny.write(path);
  const std::string l = error_of([&] { model::Model::load(path); });
  EXPECT_NE(l.find("config: model_type 'roberta' is not supported (supported: bert)"), std::string::npos) << l;
}

TEST(Architecture, BertFilesAreBertWithoutSayingSo) {
  test::TinyModel tiny;
  const model::BertConfig c = model::BertConfig::from_brm_json(tiny.meta["config"]);
  EXPECT_EQ(c.model_type, "bert");
  EXPECT_EQ(c.position_offset, 0);
  EXPECT_EQ(c.max_positions(), c.max_position_embeddings);
  EXPECT_FALSE(c.to_json().contains("model_type"));  // BERT files stay byte-identical
  json with = tiny.meta["config"];
  with["model_type"] = "bert";
  EXPECT_EQ(model::BertConfig::from_brm_json(with).to_json(), c.to_json());
  // config.json without type_vocab_size takes the architecture's default.
  json hf = tiny.meta["config"];
  hf.erase("type_vocab_size");
  EXPECT_EQ(model::BertConfig::from_hf_json(hf).type_vocab_size, 2);
}

TEST(Architecture, PositionOffsets) {
  model::Architecture a;
  EXPECT_EQ(a.position_offset(1), 0);
  a.position_ids = model::PositionIds::after_padding_idx;  // RoBERTa: padding_idx + 1
  EXPECT_EQ(a.position_offset(1), 2);
  EXPECT_TRUE(model::find_architecture("bert").is_classifier_class("BertForSequenceClassification"));
  EXPECT_FALSE(model::find_architecture("bert").is_classifier_class("BertModel"));
}

// Every tensor of the tiny Hugging Face folder (separate q/k/v, "bert." prefix) is a source,
// and the engine tensors are exactly the tiny .brm's (what the encoder and the heads read).
TEST(Architecture, BertMapCoversTheTinyCheckpoints) {
  const model::Architecture& bert = model::find_architecture("bert");
  for (const bool cross : {false, true}) {
    SCOPED_TRACE(cross ? "cross-encoder" : "bi-encoder");
    const test::TinyModel tiny = cross ? test::TinyModel(test::TinyCrossModel()) : test::TinyModel();
    const std::string dir = test::write_tiny_hf_dir(test::tmp_dir(cross ? "arch_cross" : "arch_bi"), tiny);
    const std::set<std::string> names = checkpoint_names(dir + "/model.safetensors", bert);
    const model::BertConfig cfg = model::BertConfig::from_hf_json(read_json(dir + "/config.json"));
    const model::HeadConfig head = model::HeadConfig::from_json(tiny.meta["head"]);
    const Mapped m = map_of(bert, cfg, head, names);
    EXPECT_EQ(m.sources, names);
    EXPECT_EQ(m.engine, keys(tiny));
  }
  // Without its pooler a bi-encoder maps no pooler; a cross-encoder needs one anyway.
  const test::TinyModel tiny;
  const model::BertConfig cfg = model::BertConfig::from_brm_json(tiny.meta["config"]);
  model::HeadConfig head = model::HeadConfig::from_json(tiny.meta["head"]);
  const Mapped bi = map_of(bert, cfg, head, {});
  EXPECT_EQ(bi.engine.count("pooler.dense.weight"), 0u);
  head.type = model::HeadType::classifier;
  head.num_labels = 1;
  const Mapped ce = map_of(bert, cfg, head, {});
  EXPECT_EQ(ce.engine.count("pooler.dense.weight"), 1u);
  EXPECT_EQ(ce.sources.count("classifier.weight"), 1u);
}

// The seeded synthetic BERT of weights/make_synthetic_bert.py (and the seeded cross-encoder of
// tests/golden/make_seeded_cross_encoder.py): every tensor is mapped but the position_ids
// buffer (an arange transformers saves beside the weights).
TEST(Architecture, BertMapCoversTheSyntheticCheckpoints) {
  const model::Architecture& bert = model::find_architecture("bert");
  int seen = 0;
  for (const char* name : {"synthetic-bert-cls", "seeded-cross-encoder"}) {
    const std::string dir = test::weights_dir() + "/hf/" + name;
    if (!test::exists(dir + "/model.safetensors")) continue;
    SCOPED_TRACE(name);
    ++seen;
    const std::set<std::string> names = checkpoint_names(dir + "/model.safetensors", bert);
    const json hf = read_json(dir + "/config.json");
    const model::BertConfig cfg = model::BertConfig::from_hf_json(hf);
    model::HeadConfig head;
    if (bert.is_classifier_class(hf["architectures"][0].get<std::string>())) {
      head.type = model::HeadType::classifier;
      head.num_labels = hf.value("num_labels", int(hf["id2label"].size()));
    }
    std::set<std::string> expected = names;
    expected.erase("embeddings.position_ids");
    EXPECT_EQ(map_of(bert, cfg, head, names).sources, expected);
  }
  if (!seen) GTEST_SKIP() << "no weights/hf/synthetic-bert-cls or seeded-cross-encoder (weights/convert_models.sh)";
}

// The converter goes through the map: a checkpoint tensor it needs and lacks is named.
TEST(Architecture, ConverterNamesAMissingSource) {
  const test::TinyModel tiny;
  const std::string dir =
      test::write_tiny_hf_dir(test::tmp_dir("arch_missing"), tiny, "encoder.layer.0.attention.self.value.bias");
  const std::string e = error_of([&] { model::convert_hf_dir(dir, dir + "/x.brm"); });
  EXPECT_NE(e.find("tensor 'encoder.layer.0.attention.self.value.bias' is missing"), std::string::npos) << e;
  std::ofstream(dir + "/config.json") << R"({"model_type": "distilbert", "hidden_size": 8})";
  const std::string u = error_of([&] { model::convert_hf_dir(dir, dir + "/x.brm"); });
  EXPECT_NE(u.find("model_type 'distilbert' is not supported (supported: bert)"), std::string::npos) << u;
}
