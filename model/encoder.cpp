#include "model/encoder.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <stdexcept>

#include "kernels/kernels.h"

namespace bertrank::model {

void AlignedFloats::Free::operator()(float* p) const { std::free(p); }

AlignedFloats AlignedFloats::make(size_t n) {
  AlignedFloats a;
  const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes ? bytes : 64);
  if (!p) throw std::bad_alloc();
  a.ptr.reset(static_cast<float*>(p));
  a.size = n;
  return a;
}

namespace {
using U = uint64_t;

PackedLinear pack_linear(const kernels::KernelTable& k, const ModelFile& f, const std::string& name, int out, int in,
                         Precision precision) {
  PackedLinear l;
  l.out = out;
  l.in = in;
  l.precision = precision;
  const TensorRef& w = f.require(name + ".weight", {U(out), U(in)});
  l.bias = f.require(name + ".bias", {U(out)}).data;
  switch (precision) {
    case Precision::fp32:
      l.packed = AlignedFloats::make(k.gemm_packed_floats(out, in));
      k.gemm_pack(w.data, out, in, l.packed.data());
      break;
    case Precision::int8:
      if (in > kernels::kGemmQ8MaxK)
        throw std::invalid_argument(name + ": int8 needs in_features <= " + std::to_string(kernels::kGemmQ8MaxK));
      l.packed = AlignedFloats::make((k.gemm_q8_packed_bytes(out, in) + 3) / 4);
      k.gemm_q8_pack(w.data, out, in, l.packed.data());
      break;
    case Precision::bf16:
      l.packed = AlignedFloats::make((k.gemm_bf16_packed_bytes(out, in) + 3) / 4);
      k.gemm_bf16_pack(w.data, out, in, l.packed.data());
      break;
  }
  // The packed copy is what the kernels read from now on: let the mapped source pages go.
  f.release(w);
  return l;
}

LayerNormParams layer_norm(const ModelFile& f, const std::string& name, int h) {
  return {f.require(name + ".weight", {U(h)}).data, f.require(name + ".bias", {U(h)}).data};
}

// The arguments of one linear layer's GEMM; the fp32 and the reduced-precision kernels take
// the same fields (only the packed weights' type differs).
template <typename Args>
Args gemm_args(const PackedLinear& l, int m, const float* a, float* c, kernels::Activation act,
               const float* residual) {
  Args g;
  g.m = m;
  g.n = l.out;
  g.k = l.in;
  g.a = a;
  g.lda = l.in;
  g.packed_w = l.packed.data();
  g.bias = l.bias;
  g.residual = residual;
  g.ldr = l.out;
  g.c = c;
  g.ldc = l.out;
  g.act = act;
  return g;
}

void linear(const kernels::KernelTable& k, const PackedLinear& l, int m, const float* a, float* c,
            kernels::Activation act = kernels::Activation::none, const float* residual = nullptr) {
  switch (l.precision) {
    case Precision::fp32: k.gemm(gemm_args<kernels::GemmArgs>(l, m, a, c, act, residual)); break;
    case Precision::int8: k.gemm_q8(gemm_args<kernels::GemmQArgs>(l, m, a, c, act, residual)); break;
    case Precision::bf16: k.gemm_bf16(gemm_args<kernels::GemmQArgs>(l, m, a, c, act, residual)); break;
  }
}
}  // namespace

BertEncoder::BertEncoder(const BertConfig& config, const ModelFile& f, Precision precision)
    : cfg_(config), precision_(precision), k_(&kernels::active()) {
  cfg_.validate();
  const int H = cfg_.hidden_size, F = cfg_.intermediate_size;
  word_emb_ = f.require("embeddings.word_embeddings.weight", {U(cfg_.vocab_size), U(H)}).data;
  pos_emb_ = f.require("embeddings.position_embeddings.weight", {U(cfg_.max_position_embeddings), U(H)}).data;
  type_emb_ = f.require("embeddings.token_type_embeddings.weight", {U(cfg_.type_vocab_size), U(H)}).data;
  emb_ln_ = layer_norm(f, "embeddings.LayerNorm", H);
  layers_.resize(size_t(cfg_.num_hidden_layers));
  for (int i = 0; i < cfg_.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    BertLayerWeights& L = layers_[size_t(i)];
    L.qkv = pack_linear(*k_, f, p + "attention.self.qkv", 3 * H, H, precision);
    L.attn_output = pack_linear(*k_, f, p + "attention.output.dense", H, H, precision);
    L.attn_ln = layer_norm(f, p + "attention.output.LayerNorm", H);
    L.intermediate = pack_linear(*k_, f, p + "intermediate.dense", F, H, precision);
    L.output = pack_linear(*k_, f, p + "output.dense", H, F, precision);
    L.out_ln = layer_norm(f, p + "output.LayerNorm", H);
  }
}

void BertEncoder::forward(const int32_t* ids, const int32_t* type_ids, const int32_t* seq_offsets, int nseq, float* out,
                          const HiddenStateFn* on_state) const {
  const kernels::KernelTable& k = *k_;
  const int H = cfg_.hidden_size, F = cfg_.intermediate_size;
  if (nseq <= 0) return;
  if (seq_offsets[0] != 0) throw std::invalid_argument("seq_offsets[0] must be 0");
  for (int s = 0; s < nseq; ++s) {
    const int len = seq_offsets[s + 1] - seq_offsets[s];
    if (len < 0) throw std::invalid_argument("seq_offsets must be non-decreasing");
    if (len > cfg_.max_positions())
      throw std::invalid_argument("sequence " + std::to_string(s) + " has " + std::to_string(len) +
                                  " tokens, more than the model's " + std::to_string(cfg_.max_positions()) +
                                  " positions (max_position_embeddings)");
  }
  const int T = seq_offsets[nseq];
  if (T == 0) return;

  // Embeddings: (word + token_type) + position, as Hugging Face sums them; then LayerNorm.
  for (int s = 0; s < nseq; ++s) {
    for (int t = seq_offsets[s]; t < seq_offsets[s + 1]; ++t) {
      const int32_t id = ids[t], tt = type_ids ? type_ids[t] : 0;
      if (id < 0 || id >= cfg_.vocab_size)
        throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary (" +
                                    std::to_string(cfg_.vocab_size) + ")");
      if (tt < 0 || tt >= cfg_.type_vocab_size)
        throw std::invalid_argument("token type id " + std::to_string(tt) + " is outside type_vocab_size");
      const float* w = word_emb_ + size_t(id) * H;
      const float* ty = type_emb_ + size_t(tt) * H;
      const float* po = pos_emb_ + size_t(cfg_.position_offset + t - seq_offsets[s]) * H;
      float* x = out + size_t(t) * H;
      for (int j = 0; j < H; ++j) x[j] = (w[j] + ty[j]) + po[j];
    }
  }
  k.layernorm(T, H, out, H, nullptr, 0, emb_ln_.gamma, emb_ln_.beta, float(cfg_.layer_norm_eps), out, H);
  if (on_state) (*on_state)("embeddings", out, T, H);

  AlignedFloats qkv = AlignedFloats::make(size_t(T) * 3 * H);
  AlignedFloats ctx = AlignedFloats::make(size_t(T) * H);
  AlignedFloats ffn = AlignedFloats::make(size_t(T) * F);
  const kernels::Activation act =
      cfg_.hidden_act == HiddenAct::gelu ? kernels::Activation::gelu_erf : kernels::Activation::gelu_tanh;
  float* x = out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const BertLayerWeights& L = layers_[i];
    linear(k, L.qkv, T, x, qkv.data());
    kernels::AttentionArgs a;
    a.qkv = qkv.data();
    a.ld_qkv = 3 * H;
    a.out = ctx.data();
    a.ld_out = H;
    a.seq_offsets = seq_offsets;
    a.nseq = nseq;
    a.num_heads = cfg_.num_attention_heads;
    a.head_dim = cfg_.head_dim();
    a.scale = float(1.0 / std::sqrt(double(a.head_dim)));
    k.attention(a);
    // x = LN(ctx·Woᵀ + bo + x): the GEMM writes into x with x as the residual (exact alias).
    linear(k, L.attn_output, T, ctx.data(), x, kernels::Activation::none, x);
    k.layernorm(T, H, x, H, nullptr, 0, L.attn_ln.gamma, L.attn_ln.beta, float(cfg_.layer_norm_eps), x, H);
    linear(k, L.intermediate, T, x, ffn.data(), act);
    linear(k, L.output, T, ffn.data(), x, kernels::Activation::none, x);
    k.layernorm(T, H, x, H, nullptr, 0, L.out_ln.gamma, L.out_ln.beta, float(cfg_.layer_norm_eps), x, H);
    if (on_state) (*on_state)("encoder.layer." + std::to_string(i), x, T, H);
  }
}

void BertEncoder::forward_batches(const std::vector<tokenizer::Encoding>& enc, size_t max_tokens,
                                  const BatchVisitFn& visit) const {
  max_tokens = std::max<size_t>(max_tokens, 1);
  for (size_t k = 0; k < enc.size(); ++k)
    if (enc[k].ids.empty()) throw std::invalid_argument("sequence " + std::to_string(k) + " has no tokens");
  // Longest first (stable): a pass holds sequences of similar length, so its attention tasks
  // (one per sequence and head) are of similar size, and the budget is filled evenly.
  std::vector<size_t> order(enc.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return enc[a].ids.size() > enc[b].ids.size(); });
  std::vector<int32_t> ids, types, offsets;
  std::vector<float> hidden;
  size_t i = 0;
  while (i < order.size()) {
    // Greedy chunk of consecutive (in sorted order) sequences within the token budget (at least one).
    size_t j = i, tokens = 0;
    ids.clear();
    types.clear();
    offsets.assign(1, 0);
    while (j < order.size() && (j == i || tokens + enc[order[j]].size() <= max_tokens)) {
      const auto& e = enc[order[j]];
      ids.insert(ids.end(), e.ids.begin(), e.ids.end());
      if (e.type_ids.size() == e.ids.size()) types.insert(types.end(), e.type_ids.begin(), e.type_ids.end());
      else types.insert(types.end(), e.ids.size(), 0);
      tokens += e.ids.size();
      offsets.push_back(int32_t(tokens));
      ++j;
    }
    hidden.resize(tokens * size_t(cfg_.hidden_size));
    forward(ids.data(), types.data(), offsets.data(), int(j - i), hidden.data());
    visit(order.data() + i, j - i, offsets.data(), hidden.data());
    i = j;
  }
}

}  // namespace bertrank::model
