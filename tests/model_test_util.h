// Helpers for the model tests: tiny hand-made model files and safetensors, byte-level file edits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <unistd.h>

#include "model/mapped_file.h"
#include "model/model_file.h"

namespace bertrank::test {

inline std::string tmp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("bertrank_model_tests_" + std::to_string(::getpid())) / name;
  std::filesystem::create_directories(d);
  return d.string();
}

inline std::vector<uint8_t> read_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}

// Recomputes the .brm checksum after a deliberate edit, so that a structural check is reached.
inline void fix_brm_checksum(std::vector<uint8_t>& b) {
  uint64_t h = model::fnv1a64(b.data(), 56);
  h = model::fnv1a64(b.data() + 64, b.size() - 64, h);
  put_u64(b, 56, h);
}

// A .brm with arbitrary metadata (its own "tensors" table) and data bytes, header consistent.
inline std::vector<uint8_t> raw_brm(const nlohmann::json& meta, const std::vector<uint8_t>& data) {
  const std::string js = meta.dump();
  const uint64_t data_offset = (64 + js.size() + 63) / 64 * 64;
  std::vector<uint8_t> b(size_t(data_offset) + data.size(), 0);
  std::memcpy(b.data(), "BERTRANK", 8);
  b[8] = 1;
  b[12] = 64;
  put_u64(b, 16, b.size());
  put_u64(b, 24, 64);
  put_u64(b, 32, js.size());
  put_u64(b, 40, data_offset);
  put_u64(b, 48, data.size());
  std::memcpy(b.data() + 64, js.data(), js.size());
  if (!data.empty()) std::memcpy(b.data() + data_offset, data.data(), data.size());
  fix_brm_checksum(b);
  return b;
}

// The tensors of a BERT encoder (embeddings, then `layers` layers) under the .brm's names, each
// drawn by add(name, shape, scale, center) in this fixed order, so a seeded `add` gives the same
// weights every time. w: the scale of the layers' weight matrices, w_out: of output.dense's.
template <typename Add>
void add_bert_encoder_tensors(Add&& add, int layers, int H, int F, int V, int P, float w, float w_out) {
  using U = uint64_t;
  add("embeddings.word_embeddings.weight", {U(V), U(H)}, 0.5f);
  add("embeddings.position_embeddings.weight", {U(P), U(H)}, 0.25f);
  add("embeddings.token_type_embeddings.weight", {2, U(H)}, 0.25f);
  add("embeddings.LayerNorm.weight", {U(H)}, 0.2f, 1.0f);
  add("embeddings.LayerNorm.bias", {U(H)}, 0.1f);
  for (int l = 0; l < layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    add(p + "attention.self.qkv.weight", {U(3 * H), U(H)}, w);
    add(p + "attention.self.qkv.bias", {U(3 * H)}, 0.05f);
    add(p + "attention.output.dense.weight", {U(H), U(H)}, w);
    add(p + "attention.output.dense.bias", {U(H)}, 0.05f);
    add(p + "attention.output.LayerNorm.weight", {U(H)}, 0.2f, 1.0f);
    add(p + "attention.output.LayerNorm.bias", {U(H)}, 0.1f);
    add(p + "intermediate.dense.weight", {U(F), U(H)}, w);
    add(p + "intermediate.dense.bias", {U(F)}, 0.05f);
    add(p + "output.dense.weight", {U(H), U(F)}, w_out);
    add(p + "output.dense.bias", {U(H)}, 0.05f);
    add(p + "output.LayerNorm.weight", {U(H)}, 0.2f, 1.0f);
    add(p + "output.LayerNorm.bias", {U(H)}, 0.1f);
  }
}

// A tiny BERT (hidden 8, 2 heads, 1 layer, ffn 12) with a 12-token vocab, in .brm form.
struct TinyModel {
  nlohmann::json meta;
  std::map<std::string, std::pair<std::vector<uint64_t>, std::vector<float>>> tensors;

  TinyModel() {
    const int H = 8, F = 12, V = 12, P = 16;
    std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello",
                                      "world", "the", "a", "##s", ",", "."};
    meta["format"] = "bertrank-model";
    meta["architecture"] = "BertModel";
    meta["config"] = {{"hidden_size", H}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                      {"intermediate_size", F}, {"vocab_size", V}, {"max_position_embeddings", P},
                      {"type_vocab_size", 2}, {"layer_norm_eps", 1e-12}, {"hidden_act", "gelu"},
                      {"position_embedding_type", "absolute"}, {"pad_token_id", 0}};
    meta["tokenizer"] = {{"type", "wordpiece"}, {"vocab", vocab}, {"lowercase", true}, {"clean_text", true},
                         {"handle_chinese_chars", true}, {"strip_accents", nullptr}, {"unk_token", "[UNK]"},
                         {"cls_token", "[CLS]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
                         {"mask_token", "[MASK]"}, {"continuing_subword_prefix", "##"},
                         {"max_input_chars_per_word", 100}, {"model_max_length", P}};
    meta["head"] = {{"type", "embedding"}, {"pooling", "mean"}, {"normalize", true}, {"max_seq_length", 10}, {"dim", H}};
    meta["source"] = {{"name", "tiny"}, {"fingerprint", "sha256:none"}, {"converter", "test"}};
    uint64_t s = 12345;
    auto rnd = [&](size_t n, float scale, float center) {
      std::vector<float> v(n);
      for (auto& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x = center + scale * (float((s >> 40) & 0xffff) / 32768.0f - 1.0f);
      }
      return v;
    };
    using U = uint64_t;
    auto add = [&](const std::string& n, std::vector<U> shape, float scale, float center = 0.0f) {
      U numel = 1;
      for (U d : shape) numel *= d;
      tensors[n] = {shape, rnd(size_t(numel), scale, center)};
    };
    add_bert_encoder_tensors(add, 1, H, F, V, P, 0.3f, 0.3f);
  }

  void write(const std::string& path) const {
    std::vector<model::TensorToWrite> t;
    for (const auto& [name, v] : tensors) t.push_back({name, v.first, v.second.data()});
    model::write_model_file(path, meta, t);
  }
};

// TinyModel with a cross-encoder head: pooler + a 2-label classifier ("no", "yes").
struct TinyCrossModel : TinyModel {
  TinyCrossModel() {
    meta["architecture"] = "BertForSequenceClassification";
    meta["head"] = {{"type", "classifier"}, {"num_labels", 2}, {"max_seq_length", 16},
                    {"id2label", {{"0", "no"}, {"1", "yes"}}}};
    meta["source"]["fingerprint"] = "sha256:cross";
    const uint64_t H = 8;
    auto fill = [](size_t n, float step) {
      std::vector<float> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = std::sin(float(i) * step) * 0.3f;
      return v;
    };
    tensors["pooler.dense.weight"] = {{H, H}, fill(H * H, 0.7f)};
    tensors["pooler.dense.bias"] = {{H}, fill(H, 1.3f)};
    tensors["classifier.weight"] = {{2, H}, fill(2 * H, 0.9f)};
    tensors["classifier.bias"] = {{2}, fill(2, 2.1f)};
  }
};

// Safetensors bytes from a header JSON and a data buffer.
inline std::vector<uint8_t> raw_safetensors(const std::string& header, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b(8 + header.size() + data.size());
  put_u64(b, 0, header.size());
  std::memcpy(b.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(b.data() + 8 + header.size(), data.data(), data.size());
  return b;
}

// Writes into `dir` a Hugging Face folder for the tiny model (config, vocab, tokenizer and
// sentence-transformers files; safetensors with separate q/k/v and a "bert." prefix); `drop`
// leaves one tensor out, `ffn_in_config` sets config.intermediate_size. Returns dir.
inline std::string write_tiny_hf_dir(const std::string& dir, const TinyModel& tiny, const std::string& drop = "",
                                     int ffn_in_config = 12) {
  using nlohmann::json;
  std::filesystem::create_directories(dir);
  json hdr = json::object();
  std::vector<uint8_t> data;
  auto add = [&](const std::string& n, const std::vector<uint64_t>& shape, const float* v, size_t count) {
    if (n == drop) return;
    hdr["bert." + n] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + count * 4}}};
    const auto* p = reinterpret_cast<const uint8_t*>(v);
    data.insert(data.end(), p, p + count * 4);
  };
  for (const auto& [n, v] : tiny.tensors) {
    if (n.find(".qkv.") != std::string::npos) {
      const bool w = n.find("weight") != std::string::npos;
      const size_t part = w ? 64 : 8;
      const std::string base = n.substr(0, n.find("qkv."));
      const char* names[3] = {"query", "key", "value"};
      for (int i = 0; i < 3; ++i)
        add(base + names[i] + (w ? ".weight" : ".bias"), w ? std::vector<uint64_t>{8, 8} : std::vector<uint64_t>{8},
            v.second.data() + i * part, part);
    } else {
      add(n, v.first, v.second.data(), v.second.size());
    }
  }
  write_bytes(dir + "/model.safetensors", raw_safetensors(hdr.dump(), data));
  json cfg = tiny.meta["config"];
  cfg["intermediate_size"] = ffn_in_config;
  cfg["architectures"] = {"BertModel"};
  cfg["model_type"] = "bert";
  std::ofstream(dir + "/config.json") << cfg.dump();
  std::ofstream vocab(dir + "/vocab.txt");
  for (const auto& t : tiny.meta["tokenizer"]["vocab"]) vocab << t.get<std::string>() << "\n";
  vocab.close();
  std::ofstream(dir + "/tokenizer_config.json") << R"({"do_lower_case": true, "model_max_length": 16})";
  std::ofstream(dir + "/modules.json")
      << R"([{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},)"
         R"({"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},)"
         R"({"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}])";
  std::filesystem::create_directories(dir + "/1_Pooling");
  std::ofstream(dir + "/1_Pooling/config.json") << R"({"word_embedding_dimension": 8, "pooling_mode_mean_tokens": true})";
  std::ofstream(dir + "/sentence_bert_config.json") << R"({"max_seq_length": 10})";
  return dir;
}

}  // namespace bertrank::test
