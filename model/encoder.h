// encoder.h — the BERT encoder as a short chain of kernel calls (Hugging Face BertModel).
//
// Input is a batch of sequences packed back to back with no padding: sequence s owns token
// rows [seq_offsets[s], seq_offsets[s+1]). Attention never crosses sequences, so a sequence's
// output does not depend on what else is in the batch (no padding, no mask arithmetic).
//
//   x = LayerNorm(word_emb[id] + token_type_emb[type] + position_emb[pos])   "embeddings"
//       pos = position_offset + index in the sequence (0 for BERT, model/arch.h PositionIds)
//   per layer i:                                                            "encoder.layer.i"
//     qkv  = x · Wqkvᵀ + bqkv                  [T × 3H]  (query|key|value fused at convert time)
//     ctx  = attention(qkv)                    [T × H]   softmax(q·kᵀ/√d)·v per head
//     x    = LayerNorm(ctx · Woᵀ + bo + x)     attention.output
//     f    = gelu(x · Wiᵀ + bi)                [T × F]   intermediate (erf or tanh GELU per config)
//     x    = LayerNorm(f · Wo2ᵀ + bo2 + x)     output
//
// Weights are read from a validated ModelFile; every tensor's shape is checked against the
// config at construction (errors name the tensor). Linear weights are packed once for the
// active kernel table, at the chosen Precision (fp32 as stored; int8: per-output-channel
// symmetric int8 quantised from the fp32 weights, activations quantised per token on every
// call; bf16: weights rounded to bf16, all arithmetic fp32; kernels/kernels.h
// "Reduced-precision GEMM" has the details); embeddings, LayerNorm
// parameters and biases are used in place from the mapping and stay fp32.
// The encoder is immutable after construction and safe to call from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/model_file.h"
#include "tokenizer/tokenizer.h"

namespace bertrank::kernels {
struct KernelTable;
}

namespace bertrank::model {

// Weight precision of the encoder's linear layers, chosen at load time. Embeddings,
// LayerNorm, softmax, attention and every accumulation stay fp32 whatever is chosen.
enum class Precision { fp32, int8, bf16 };

// A 64-byte-aligned float buffer.
struct AlignedFloats {
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> ptr;
  size_t size = 0;
  static AlignedFloats make(size_t n);
  float* data() const { return ptr.get(); }
};

struct PackedLinear {  // torch.nn.Linear, weight [out × in], packed for the kernel table
  int out = 0, in = 0;
  Precision precision = Precision::fp32;
  AlignedFloats packed;         // fp32: gemm_pack's layout; int8 / bf16: gemm_q8_pack's / gemm_bf16_pack's bytes
  const float* bias = nullptr;  // [out]
};

struct LayerNormParams {
  const float* gamma = nullptr;  // [H]  (.weight)
  const float* beta = nullptr;   // [H]  (.bias)
};

struct BertLayerWeights {
  PackedLinear qkv;          // attention.self.qkv          [3H × H]
  PackedLinear attn_output;  // attention.output.dense      [H × H]
  LayerNormParams attn_ln;   // attention.output.LayerNorm  [H]
  PackedLinear intermediate; // intermediate.dense          [F × H]
  PackedLinear output;       // output.dense                [H × F]
  LayerNormParams out_ln;    // output.LayerNorm            [H]
};

// Called with each named hidden state ("embeddings", "encoder.layer.0", ...): rows × cols floats.
using HiddenStateFn = std::function<void(const std::string& name, const float* x, int rows, int cols)>;

class BertEncoder {
 public:
  // Throws std::invalid_argument for a precision the active kernel table cannot run.
  BertEncoder(const BertConfig& config, const ModelFile& file, Precision precision = Precision::fp32);

  // ids, type_ids: size T = seq_offsets[nseq]; out: size T*hidden_size. Throws
  // std::invalid_argument for ids outside the vocab, type ids outside type_vocab_size, or a
  // sequence longer than config.max_positions() (max_position_embeddings - position_offset).
  void forward(const int32_t* ids, const int32_t* type_ids, const int32_t* seq_offsets, int nseq, float* out,
               const HiddenStateFn* on_state = nullptr) const;

  // Runs forward over already encoded sequences: sorts them by length (longest first, stable),
  // cuts the sorted list into passes of at most max_tokens tokens (at least one sequence per
  // pass), and after each pass calls visit(index, count, seq_offsets, hidden): the pass's
  // sequences are enc[index[0]], ..., enc[index[count-1]] (input positions), their row offsets
  // (count+1 entries, from 0) and hidden states [rows × hidden_size]. Throws
  // std::invalid_argument for an encoding without tokens. Neither the order nor the pass size
  // changes any result: sequences never attend across each other.
  using BatchVisitFn = std::function<void(const size_t* index, size_t count, const int32_t* seq_offsets,
                                          const float* hidden)>;
  void forward_batches(const std::vector<tokenizer::Encoding>& enc, size_t max_tokens,
                       const BatchVisitFn& visit) const;

  const BertConfig& config() const { return cfg_; }
  Precision precision() const { return precision_; }

 private:
  BertConfig cfg_;
  Precision precision_ = Precision::fp32;
  const kernels::KernelTable* k_ = nullptr;
  const float* word_emb_ = nullptr;   // embeddings.word_embeddings.weight        [V × H]
  const float* pos_emb_ = nullptr;    // embeddings.position_embeddings.weight    [P × H]
  const float* type_emb_ = nullptr;   // embeddings.token_type_embeddings.weight  [TV × H]
  LayerNormParams emb_ln_;            // embeddings.LayerNorm                     [H]
  std::vector<BertLayerWeights> layers_;
};

}  // namespace bertrank::model
