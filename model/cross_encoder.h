// cross_encoder.h — the cross-encoder head on a loaded model (Hugging Face
// BertForSequenceClassification, as sentence-transformers' CrossEncoder runs it).
//
//   auto m = bertrank::model::Model::load("weights/seeded-cross-encoder.brm");
//   bertrank::model::CrossEncoder ce(m);                 // checks head and tensor shapes
//   std::vector<float> s(docs.size() * ce.num_labels());
//   ce.score(query, docs, s.data());                     // row i = logits of (query, docs[i])
//
// Per pair (a, b):
//   enc    = the tokenizer's pair template (tokenizer/tokenizer.h): for BERT "[CLS] a [SEP] b
//            [SEP]", token types 0 for [CLS] a [SEP], 1 for b [SEP]; truncation longest_first
//            to max_length tokens (default: the head's max_seq_length, 512 for the ms-marco
//            cross-encoders), exactly as tokenizers. An empty b ("") encodes as the single
//            sequence "[CLS] a [SEP]", as transformers' tokenizers do (they take text_pair ""
//            for no pair; sentence-transformers' CrossEncoder inherits that)
//   h      = BertEncoder(enc)                            [T × H]  (packed, no padding)
//   pooled = tanh(pooler.dense.weight · h[0] + pooler.dense.bias)   [H]   the BERT pooler on
//            the [CLS] row — part of the score, never dropped
//   logits = classifier.weight · pooled + classifier.bias            [num_labels]
// Output is the raw logits by default (what the ms-marco models intend); ScoreActivation
// sigmoid applies 1 / (1 + e^-x) to each logit, softmax normalises each pair's logits.
// Results do not depend on batch composition (packed sequences never attend across each other).
//
// Long documents (off by default): with window_length W > 0 a document longer than W word
// pieces is cut into windows of W word pieces starting every window_stride pieces (default
// W / 2; the last window ends at the document's end), each window is scored as the pair
// (query, window) — truncated longest_first to max_length like any pair — and the document's
// score is the maximum over its windows of the (activated) first label. Needs num_labels = 1.
// A document of at most W pieces is one window, scored exactly as without windows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/model.h"

namespace bertrank::model {

enum class ScoreActivation { score_none, score_sigmoid, score_softmax };

// "none" | "sigmoid" | "softmax"; throws std::invalid_argument otherwise.
ScoreActivation parse_score_activation(const std::string& s);

struct ScoreOptions {
  int max_length = 0;           // tokens incl. the special tokens; 0: the head's max_seq_length
  ScoreActivation activation = ScoreActivation::score_none;
  int window_length = 0;        // document word pieces per window; 0: no windows
  int window_stride = 0;        // 0: window_length / 2
  int num_threads = 0;          // OpenMP threads for this call; 0: the current default
  int max_batch_tokens = 8192;  // tokens per forward pass (memory bound; never changes results)
};

struct ScoreInfo {
  std::vector<int32_t> num_tokens;  // per pair (its longest window), after truncation
  std::vector<uint8_t> truncated;   // per pair, 1 if truncation dropped word pieces
  std::vector<int32_t> windows;     // per pair, windows scored (1 without windows)
  size_t num_truncated = 0;
};

class CrossEncoder {
 public:
  // Throws std::invalid_argument if the model's head is not a classifier head, and
  // std::runtime_error naming the tensor if pooler.dense.* or classifier.* is missing or has
  // the wrong shape.
  explicit CrossEncoder(std::shared_ptr<const Model> model);

  int num_labels() const { return num_labels_; }
  const Model& model() const { return *model_; }
  // Label names by index ("LABEL_0", or the checkpoint's id2label).
  std::vector<std::string> labels() const;

  // out: size docs.size() * num_labels() (with windows: docs.size()). info may be null.
  void score(const std::string& query, const std::vector<std::string>& docs, float* out, ScoreInfo* info = nullptr,
             const ScoreOptions& opt = {}) const;
  // out: size pairs.size() * num_labels() (with windows: pairs.size()).
  void score_pairs(const std::vector<std::pair<std::string, std::string>>& pairs, float* out,
                   ScoreInfo* info = nullptr, const ScoreOptions& opt = {}) const;
  // Already encoded pairs (ids with the special tokens, type ids); no truncation; raw logits
  // (opt.activation is applied, windows are not).
  void score_encodings(const std::vector<tokenizer::Encoding>& enc, float* out, const ScoreOptions& opt = {}) const;
  std::vector<float> score_one(const std::string& a, const std::string& b, const ScoreOptions& opt = {}) const;

 private:
  int effective_max_length(const ScoreOptions& opt) const;
  void score_windows(const std::vector<std::pair<std::string, std::string>>& pairs, float* out, ScoreInfo* info,
                     const ScoreOptions& opt) const;

  std::shared_ptr<const Model> model_;
  int num_labels_ = 0;
  const float* pooler_w_ = nullptr;      // pooler.dense.weight  [H × H]
  const float* pooler_b_ = nullptr;      // pooler.dense.bias    [H]
  const float* classifier_w_ = nullptr;  // classifier.weight    [num_labels × H]
  const float* classifier_b_ = nullptr;  // classifier.bias      [num_labels]
};

}  // namespace bertrank::model
