#include "model/model.h"

#include <omp.h>

#include <stdexcept>

#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "tokenizer/load.h"

namespace bertrank::model {

namespace {
struct Loaded {
  ModelFile file;
  BertConfig config;
  HeadConfig head;
  std::unique_ptr<tokenizer::Tokenizer> tok;
};

Loaded load_meta(const std::string& path) {
  Loaded l{ModelFile::open(path), {}, {}, nullptr};
  const nlohmann::json& m = l.file.metadata();
  try {
    for (const char* key : {"config", "head", "tokenizer"})
      if (!m.contains(key)) throw std::runtime_error(std::string("metadata has no '") + key + "'");
    l.config = BertConfig::from_brm_json(m["config"]);
    l.head = HeadConfig::from_json(m["head"]);
    l.tok = tokenizer::tokenizer_from_brm(m["tokenizer"]);
    if (l.tok->vocab_size() > size_t(l.config.vocab_size))
      throw std::runtime_error("tokenizer: vocab has " + std::to_string(l.tok->vocab_size()) +
                               " tokens, more than config.vocab_size " + std::to_string(l.config.vocab_size));
    if (l.head.max_seq_length > l.config.max_positions())
      throw std::runtime_error("head: max_seq_length " + std::to_string(l.head.max_seq_length) +
                               " exceeds config.max_position_embeddings " +
                               std::to_string(l.config.max_position_embeddings) +
                               (l.config.position_offset ? " minus the position offset " +
                                                               std::to_string(l.config.position_offset)
                                                         : std::string()));
    if (l.head.type == HeadType::embedding && l.head.dim != l.config.hidden_size)
      throw std::runtime_error("head: dim " + std::to_string(l.head.dim) + " differs from config.hidden_size " +
                               std::to_string(l.config.hidden_size));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  return l;
}

using kernels::ThreadScope;
}  // namespace

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::fp32;
  if (s == "int8") return Precision::int8;
  if (s == "bf16") return Precision::bf16;
  throw std::invalid_argument("unknown precision '" + s + "' (expected fp32, int8 or bf16)");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::int8: return "int8";
    case Precision::bf16: return "bf16";
  }
  return "?";
}

std::shared_ptr<const Model> Model::load(const std::string& path, const LoadOptions& opt) {
  Loaded l = load_meta(path);
  std::shared_ptr<Model> m(new Model());
  m->precision_ = opt.precision;
  m->file_ = std::move(l.file);
  m->config_ = l.config;
  m->head_ = l.head;
  m->tokenizer_ = std::move(l.tok);
  try {
    // Head tensors are checked here too, so that a bad file is refused at load, not at first use.
    const uint64_t H = uint64_t(m->config_.hidden_size);
    if (m->head_.type == HeadType::classifier || m->file_.find("pooler.dense.weight") ||
        m->file_.find("pooler.dense.bias")) {
      m->file_.require("pooler.dense.weight", {H, H});
      m->file_.require("pooler.dense.bias", {H});
    }
    if (m->head_.type == HeadType::classifier) {
      m->file_.require("classifier.weight", {uint64_t(m->head_.num_labels), H});
      m->file_.require("classifier.bias", {uint64_t(m->head_.num_labels)});
    }
    m->encoder_ = std::make_unique<BertEncoder>(m->config_, m->file_, opt.precision);
  } catch (const std::runtime_error& e) {
    const std::string w = e.what();
    throw std::runtime_error(w.rfind(path, 0) == 0 ? w : path + ": " + w);
  }
  return m;
}

std::string Model::name() const {
  const auto& m = metadata();
  if (m.contains("source") && m["source"].is_object() && m["source"].contains("name") && m["source"]["name"].is_string())
    return m["source"]["name"].get<std::string>();
  return {};
}

std::string Model::fingerprint() const {
  const auto& m = metadata();
  if (m.contains("source") && m["source"].is_object() && m["source"].contains("fingerprint") &&
      m["source"]["fingerprint"].is_string())
    return m["source"]["fingerprint"].get<std::string>();
  return {};
}

std::unique_ptr<tokenizer::Tokenizer> load_model_tokenizer(const std::string& brm_path) {
  return load_meta(brm_path).tok;
}

BiEncoder::BiEncoder(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  if (!model_) throw std::invalid_argument("BiEncoder: null model");
  if (model_->head().type != HeadType::embedding)
    throw std::invalid_argument("model '" + model_->name() + "' has a classifier head, not an embedding head");
}

void BiEncoder::embed(const std::vector<std::string>& texts, float* out, EmbedInfo* info,
                      const EmbedOptions& opt) const {
  tokenizer::EncodeOptions eo;
  eo.max_length = opt.max_length > 0 ? opt.max_length : model_->head().max_seq_length;
  if (eo.max_length > model_->config().max_positions())
    throw std::invalid_argument("max_length " + std::to_string(eo.max_length) + " exceeds the model's " +
                                std::to_string(model_->config().max_positions()) + " positions");
  std::vector<tokenizer::Encoding> enc;
  {
    ThreadScope ts(opt.num_threads);
    enc = model_->tokenizer().encode_batch(texts, eo);
  }
  if (info) {
    info->num_tokens.resize(enc.size());
    info->truncated.resize(enc.size());
    info->num_truncated = 0;
    for (size_t i = 0; i < enc.size(); ++i) {
      info->num_tokens[i] = int32_t(enc[i].size());
      info->truncated[i] = enc[i].truncated ? 1 : 0;
      info->num_truncated += enc[i].truncated ? 1 : 0;
    }
  }
  embed_encodings(enc, out, opt);
}

void BiEncoder::embed_encodings(const std::vector<tokenizer::Encoding>& enc, float* out, const EmbedOptions& opt) const {
  ThreadScope ts(opt.num_threads);
  const kernels::KernelTable& k = kernels::active();
  const BertEncoder& encoder = model_->encoder();
  const HeadConfig& head = model_->head();
  const int H = dim();
  const bool normalize = opt.normalize < 0 ? head.normalize : opt.normalize != 0;
  encoder.forward_batches(enc, size_t(std::max(opt.max_batch_tokens, 1)),
                          [&](const size_t* index, size_t count, const int32_t* offsets, const float* hidden) {
    for (size_t s = 0; s < count; ++s) {
      const int r0 = offsets[s], rows = offsets[s + 1] - offsets[s];
      const float* x = hidden + size_t(r0) * H;
      float* o = out + index[s] * size_t(H);
      switch (head.pooling) {
        case Pooling::mean: k.pool_mean(rows, H, x, H, o); break;
        case Pooling::max: k.pool_max(rows, H, x, H, o); break;
        case Pooling::cls: std::copy(x, x + H, o); break;
      }
      if (normalize) k.l2_normalize(size_t(H), o);
    }
  });
}

std::vector<float> BiEncoder::embed_one(const std::string& text) const {
  std::vector<float> out(static_cast<size_t>(dim()));
  embed({text}, out.data());
  return out;
}

}  // namespace bertrank::model
