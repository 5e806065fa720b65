#include "model/arch.h"

#include <algorithm>
#include <stdexcept>

#include "model/config.h"

namespace bertrank::model {

namespace {

using U = uint64_t;

// Hugging Face BertModel (+ BertForSequenceClassification's classifier). Engine names are the
// checkpoint's without "bert.", except the fused query|key|value of each layer.
std::vector<MappedTensor> bert_tensors(const BertConfig& c, const HeadConfig& head, const HasTensorFn& has) {
  const U H = U(c.hidden_size), F = U(c.intermediate_size);
  std::vector<MappedTensor> m;
  auto same = [&](const std::string& name, const std::vector<U>& shape) { m.push_back({name, shape, {name}, shape}); };
  same("embeddings.word_embeddings.weight", {U(c.vocab_size), H});
  same("embeddings.position_embeddings.weight", {U(c.max_position_embeddings), H});
  same("embeddings.token_type_embeddings.weight", {U(c.type_vocab_size), H});
  same("embeddings.LayerNorm.weight", {H});
  same("embeddings.LayerNorm.bias", {H});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".", a = p + "attention.self.";
    m.push_back({a + "qkv.weight", {3 * H, H}, {a + "query.weight", a + "key.weight", a + "value.weight"}, {H, H}});
    m.push_back({a + "qkv.bias", {3 * H}, {a + "query.bias", a + "key.bias", a + "value.bias"}, {H}});
    same(p + "attention.output.dense.weight", {H, H});
    same(p + "attention.output.dense.bias", {H});
    same(p + "attention.output.LayerNorm.weight", {H});
    same(p + "attention.output.LayerNorm.bias", {H});
    same(p + "intermediate.dense.weight", {F, H});
    same(p + "intermediate.dense.bias", {F});
    same(p + "output.dense.weight", {H, F});
    same(p + "output.dense.bias", {H});
    same(p + "output.LayerNorm.weight", {H});
    same(p + "output.LayerNorm.bias", {H});
  }
  const bool classifier = head.type == HeadType::classifier;
  if (classifier || has("pooler.dense.weight")) {  // a bi-encoder keeps its pooler when it has one
    same("pooler.dense.weight", {H, H});
    same("pooler.dense.bias", {H});
  }
  if (classifier) {
    same("classifier.weight", {U(head.num_labels), H});
    same("classifier.bias", {U(head.num_labels)});
  }
  return m;
}

// The registry: a new family is one more entry here ("Adding a model family" in arch.h).
const std::vector<Architecture>& registry() {
  static const std::vector<Architecture> archs = [] {
    std::vector<Architecture> v;
    Architecture bert;
    bert.name = "bert";
    bert.model_types = {"bert"};
    bert.tensor_prefixes = {"bert."};
    bert.position_ids = PositionIds::from_zero;
    bert.default_type_vocab_size = 2;
    bert.classifier_classes = {"BertForSequenceClassification"};
    bert.tensor_map = bert_tensors;
    v.push_back(std::move(bert));
    return v;
  }();
  return archs;
}

}  // namespace

bool Architecture::is_classifier_class(const std::string& hf_class) const {
  return std::find(classifier_classes.begin(), classifier_classes.end(), hf_class) != classifier_classes.end();
}

const Architecture& find_architecture(const std::string& model_type) {
  for (const Architecture& a : registry())
    if (std::find(a.model_types.begin(), a.model_types.end(), model_type) != a.model_types.end()) return a;
  throw std::runtime_error("model_type '" + model_type + "' is not supported (supported: " + supported_model_types() +
                           ")");
}

std::string supported_model_types() {
  std::string s;
  for (const Architecture& a : registry())
    for (const std::string& t : a.model_types) s += (s.empty() ? "" : ", ") + t;
  return s;
}

}  // namespace bertrank::model
