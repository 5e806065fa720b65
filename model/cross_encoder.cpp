#include "model/cross_encoder.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels/parallel.h"

namespace bertrank::model {

namespace {

using kernels::ThreadScope;

void apply_activation(ScoreActivation a, float* x, int n) {
  switch (a) {
    case ScoreActivation::score_none:
      return;
    case ScoreActivation::score_sigmoid:
      for (int i = 0; i < n; ++i) x[i] = float(1.0 / (1.0 + std::exp(-double(x[i]))));
      return;
    case ScoreActivation::score_softmax: {
      double mx = x[0], sum = 0;
      for (int i = 1; i < n; ++i) mx = std::max(mx, double(x[i]));
      for (int i = 0; i < n; ++i) sum += std::exp(double(x[i]) - mx);
      for (int i = 0; i < n; ++i) x[i] = float(std::exp(double(x[i]) - mx) / sum);
      return;
    }
  }
}

}  // namespace

ScoreActivation parse_score_activation(const std::string& s) {
  if (s == "none") return ScoreActivation::score_none;
  if (s == "sigmoid") return ScoreActivation::score_sigmoid;
  if (s == "softmax") return ScoreActivation::score_softmax;
  throw std::invalid_argument("unknown activation '" + s + "' (expected none, sigmoid or softmax)");
}

CrossEncoder::CrossEncoder(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  if (!model_) throw std::invalid_argument("CrossEncoder: null model");
  const HeadConfig& head = model_->head();
  if (head.type != HeadType::classifier)
    throw std::invalid_argument("model '" + model_->name() + "' has an embedding head, not a classifier head");
  if (head.num_labels < 1)
    throw std::runtime_error(model_->file().path() + ": head.num_labels is " + std::to_string(head.num_labels));
  num_labels_ = head.num_labels;
  const uint64_t H = uint64_t(model_->config().hidden_size), L = uint64_t(num_labels_);
  const ModelFile& f = model_->file();
  try {
    pooler_w_ = f.require("pooler.dense.weight", {H, H}).data;
    pooler_b_ = f.require("pooler.dense.bias", {H}).data;
    classifier_w_ = f.require("classifier.weight", {L, H}).data;
    classifier_b_ = f.require("classifier.bias", {L}).data;
  } catch (const std::runtime_error& e) {
    const std::string w = e.what();
    throw std::runtime_error(w.rfind(f.path(), 0) == 0 ? w : f.path() + ": " + w);
  }
}

std::vector<std::string> CrossEncoder::labels() const {
  std::vector<std::string> out;
  const auto& m = model_->head().id2label;
  for (int i = 0; i < num_labels_; ++i) {
    auto it = m.find(std::to_string(i));
    out.push_back(it != m.end() ? it->second : "LABEL_" + std::to_string(i));
  }
  return out;
}

int CrossEncoder::effective_max_length(const ScoreOptions& opt) const {
  const int max_len = opt.max_length > 0 ? opt.max_length : model_->head().max_seq_length;
  if (max_len > model_->config().max_positions())
    throw std::invalid_argument("max_length " + std::to_string(max_len) + " exceeds the model's " +
                                std::to_string(model_->config().max_positions()) + " positions");
  if (max_len < 4) throw std::invalid_argument("max_length " + std::to_string(max_len) + " is below 4");
  return max_len;
}

void CrossEncoder::score_encodings(const std::vector<tokenizer::Encoding>& enc, float* out,
                                   const ScoreOptions& opt) const {
  ThreadScope ts(opt.num_threads);
  const BertEncoder& encoder = model_->encoder();
  const int H = model_->config().hidden_size, L = num_labels_;
  std::vector<float> pooled(static_cast<size_t>(H));
  encoder.forward_batches(enc, size_t(std::max(opt.max_batch_tokens, 1)),
                          [&](const size_t* index, size_t count, const int32_t* offsets, const float* hidden) {
    for (size_t s = 0; s < count; ++s) {
      const float* cls = hidden + size_t(offsets[s]) * H;  // [CLS] row of pair s
      for (int r = 0; r < H; ++r) {
        const float* w = pooler_w_ + size_t(r) * H;
        double acc = pooler_b_[r];
        for (int c = 0; c < H; ++c) acc += double(w[c]) * cls[c];
        pooled[r] = float(std::tanh(acc));
      }
      float* o = out + index[s] * size_t(L);
      for (int l = 0; l < L; ++l) {
        const float* w = classifier_w_ + size_t(l) * H;
        double acc = classifier_b_[l];
        for (int c = 0; c < H; ++c) acc += double(w[c]) * pooled[c];
        o[l] = float(acc);
      }
      apply_activation(opt.activation, o, L);
    }
  });
}

void CrossEncoder::score_pairs(const std::vector<std::pair<std::string, std::string>>& pairs, float* out,
                               ScoreInfo* info, const ScoreOptions& opt) const {
  if (opt.window_length > 0) return score_windows(pairs, out, info, opt);
  tokenizer::EncodeOptions eo;
  eo.max_length = effective_max_length(opt);
  std::vector<tokenizer::Encoding> enc;
  {
    ThreadScope ts(opt.num_threads);
    enc = model_->tokenizer().encode_pair_batch(pairs, eo);
    // As transformers (its tokenizers treat text_pair "" as no pair): an empty second text
    // encodes as the single sequence ("[CLS] a [SEP]").
    for (size_t i = 0; i < pairs.size(); ++i)
      if (pairs[i].second.empty()) enc[i] = model_->tokenizer().encode(pairs[i].first, eo);
  }
  if (info) {
    info->num_tokens.resize(enc.size());
    info->truncated.resize(enc.size());
    info->windows.assign(enc.size(), 1);
    info->num_truncated = 0;
    for (size_t i = 0; i < enc.size(); ++i) {
      info->num_tokens[i] = int32_t(enc[i].size());
      info->truncated[i] = enc[i].truncated ? 1 : 0;
      info->num_truncated += enc[i].truncated ? 1 : 0;
    }
  }
  score_encodings(enc, out, opt);
}

void CrossEncoder::score_windows(const std::vector<std::pair<std::string, std::string>>& pairs, float* out,
                                 ScoreInfo* info, const ScoreOptions& opt) const {
  if (num_labels_ != 1)
    throw std::invalid_argument("document windows need a one-label cross-encoder (this one has " +
                                std::to_string(num_labels_) + " labels)");
  const int W = opt.window_length;
  const int S = opt.window_stride > 0 ? opt.window_stride : std::max(1, W / 2);
  if (S > W) throw std::invalid_argument("window_stride " + std::to_string(S) + " exceeds window_length " + std::to_string(W));
  const int max_len = effective_max_length(opt);
  const tokenizer::Tokenizer& tok = model_->tokenizer();
  tokenizer::EncodeOptions eo;
  eo.max_length = max_len;
  std::vector<tokenizer::Encoding> enc;
  std::vector<size_t> owner;  // pair of each window
  tokenizer::Tokens query, doc, window;
  if (info) {
    info->num_tokens.assign(pairs.size(), 0);
    info->truncated.assign(pairs.size(), 0);
    info->windows.assign(pairs.size(), 0);
    info->num_truncated = 0;
  }
  for (size_t p = 0; p < pairs.size(); ++p) {
    query = {};
    doc = {};
    tok.tokenize(pairs[p].first, query.ids, query.offsets);
    tok.tokenize(pairs[p].second, doc.ids, doc.offsets);
    const int nd = int(doc.ids.size());
    std::vector<std::pair<int, int>> spans;  // [start, end) of each window
    if (nd <= W) {
      spans.push_back({0, nd});
    } else {
      for (int s = 0;; s += S) {
        const int e = std::min(nd, s + W);
        spans.push_back({std::max(0, e - W), e});
        if (e == nd) break;
      }
    }
    for (const auto& [s, e] : spans) {
      window.ids.assign(doc.ids.begin() + s, doc.ids.begin() + e);
      window.offsets.assign(doc.offsets.begin() + s, doc.offsets.begin() + e);
      // The pair (query, window), truncated longest_first like any pair; "" is no pair (above).
      tokenizer::Encoding x = tok.post_process(query, pairs[p].second.empty() ? nullptr : &window, eo);
      if (info) {
        info->num_tokens[p] = std::max(info->num_tokens[p], int32_t(x.ids.size()));
        info->windows[p] += 1;
        if (x.truncated) info->truncated[p] = 1;
      }
      enc.push_back(std::move(x));
      owner.push_back(p);
    }
  }
  if (info)
    for (uint8_t t : info->truncated) info->num_truncated += t;
  std::vector<float> s(enc.size());
  score_encodings(enc, s.data(), opt);
  std::fill(out, out + pairs.size(), -INFINITY);
  for (size_t w = 0; w < enc.size(); ++w) out[owner[w]] = std::max(out[owner[w]], s[w]);
}

void CrossEncoder::score(const std::string& query, const std::vector<std::string>& docs, float* out, ScoreInfo* info,
                         const ScoreOptions& opt) const {
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.reserve(docs.size());
  for (const auto& d : docs) pairs.emplace_back(query, d);
  score_pairs(pairs, out, info, opt);
}

std::vector<float> CrossEncoder::score_one(const std::string& a, const std::string& b, const ScoreOptions& opt) const {
  std::vector<float> out(opt.window_length > 0 ? 1 : size_t(num_labels_));
  score_pairs({{a, b}}, out.data(), nullptr, opt);
  return out;
}

}  // namespace bertrank::model
