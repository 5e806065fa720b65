// model.h — a loaded bertrank model (.brm) and the bi-encoder API on top of it.
//
//   auto m = bertrank::model::Model::load("weights/all-MiniLM-L6-v2.brm");  // validates all
//   bertrank::model::BiEncoder enc(m);
//   std::vector<float> out(texts.size() * enc.dim());
//   bertrank::model::EmbedInfo info;
//   enc.embed(texts, out.data(), &info);          // row i = embedding of texts[i]
//
// Model::load maps the file, validates the header, checksum, metadata, config and every tensor
// shape, builds the tokenizer the metadata describes (tokenizer/load.h) and packs the weights
// for the active kernels. A corrupt or inconsistent file is refused here, never at first use. A Model is
// immutable and thread-safe; share it with std::shared_ptr.
//
// Embedding follows the model's head metadata: inputs are tokenized with the tokenizer's
// special-token template ("[CLS] text [SEP]" for BERT), truncated to the head's max_seq_length (sentence-transformers' max_seq_length, e.g. 256 for
// all-MiniLM-L6-v2), encoded as packed sequences (no padding), pooled (mean / CLS / max) and
// L2-normalised when the model says so. Results do not depend on batch composition: every
// sequence attends only to itself, and pooling reads only its own rows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/encoder.h"
#include "model/model_file.h"
#include "tokenizer/tokenizer.h"

namespace bertrank::model {

// Precision (model/encoder.h): weight precision of the encoder's linear layers, chosen at
// load time. Embeddings, LayerNorm, softmax, attention, the pooler / classifier head and
// every accumulation stay fp32 whatever is chosen.
// "fp32" | "int8" | "bf16"; throws std::invalid_argument otherwise.
Precision parse_precision(const std::string& s);
const char* precision_name(Precision p);

struct LoadOptions {
  Precision precision = Precision::fp32;
};

class Model {
 public:
  // Throws std::runtime_error("<path>: <what is wrong>") for any bad file, and
  // std::invalid_argument for a precision this build or CPU cannot run.
  static std::shared_ptr<const Model> load(const std::string& path, const LoadOptions& opt = {});

  Precision precision() const { return precision_; }

  const BertConfig& config() const { return config_; }
  const HeadConfig& head() const { return head_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const BertEncoder& encoder() const { return *encoder_; }
  const nlohmann::json& metadata() const { return file_.metadata(); }
  const ModelFile& file() const { return file_; }
  std::string name() const;         // metadata source.name
  std::string fingerprint() const;  // metadata source.fingerprint ("sha256:...")

 private:
  Model() = default;
  Precision precision_ = Precision::fp32;
  ModelFile file_;
  BertConfig config_;
  HeadConfig head_;
  std::unique_ptr<const tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<BertEncoder> encoder_;
};

// The tokenizer embedded in a .brm, after the same validation as load() minus the encoder
// weights. For tools that only tokenize.
std::unique_ptr<tokenizer::Tokenizer> load_model_tokenizer(const std::string& brm_path);

struct EmbedOptions {
  int max_length = 0;           // tokens incl. the special tokens; 0: the model's max_seq_length
  int num_threads = 0;          // OpenMP threads for this call; 0: the current default
  int max_batch_tokens = 8192;  // tokens per forward pass (memory bound; never changes results)
  int normalize = -1;           // -1: the head's setting; 0: raw pooled vector; 1: L2-normalised
};

struct EmbedInfo {
  std::vector<int32_t> num_tokens;  // per input, after truncation, incl. the special tokens
  std::vector<uint8_t> truncated;   // per input, 1 if truncation dropped word pieces
  size_t num_truncated = 0;
};

class BiEncoder {
 public:
  // Throws std::invalid_argument if the model's head is not an embedding head.
  explicit BiEncoder(std::shared_ptr<const Model> model);

  int dim() const { return model_->config().hidden_size; }
  const Model& model() const { return *model_; }

  // out: size texts.size() * dim(), row-major. info may be null.
  void embed(const std::vector<std::string>& texts, float* out, EmbedInfo* info = nullptr,
             const EmbedOptions& opt = {}) const;
  // Same from already tokenized inputs (ids with the special tokens); no truncation is applied.
  void embed_encodings(const std::vector<tokenizer::Encoding>& enc, float* out, const EmbedOptions& opt = {}) const;
  std::vector<float> embed_one(const std::string& text) const;

 private:
  std::shared_ptr<const Model> model_;
};

}  // namespace bertrank::model
