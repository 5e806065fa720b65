// model_file.h — the bertrank model file (.brm): one file holds everything needed to run a model.
//
// ==== Format, version 1 ==========================================================================
// All integers are little-endian. Offsets are from the start of the file.
//
//   offset  size  field
//   0       8     magic        "BERTRANK"
//   8       4     version      u32, 1
//   12      4     header_size  u32, 64
//   16      8     file_size    u64, the file's exact length in bytes
//   24      8     meta_offset  u64, 64
//   32      8     meta_size    u64, length of the metadata JSON (UTF-8, no terminator)
//   40      8     data_offset  u64, meta_offset + meta_size rounded up to a multiple of 64
//   48      8     data_size    u64, file_size - data_offset
//   56      8     checksum     u64, FNV-1a 64 of bytes [0, 56) followed by bytes [64, file_size)
//   64      ...   metadata JSON, then zero bytes up to data_offset, then the tensor data.
//
// Metadata (a JSON object):
//   "format": "bertrank-model"
//   "architecture": "BertModel" | "BertForSequenceClassification" (what the converter read)
//   "config":   the encoder configuration bertrank runs, every field required:
//               hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
//               vocab_size, max_position_embeddings, type_vocab_size (integers), layer_norm_eps
//               (number), hidden_act ("gelu" | "gelu_new" | "gelu_pytorch_tanh"),
//               position_embedding_type ("absolute"), pad_token_id (integer)
//   "hf_config": the source config.json, verbatim (informational)
//   "tokenizer": {"type": "wordpiece", "vocab": [token strings in id order],
//                 "lowercase", "clean_text", "handle_chinese_chars" (bools), "strip_accents"
//                 (null | bool), "unk_token", "cls_token", "sep_token", "pad_token",
//                 "mask_token", "continuing_subword_prefix" (strings),
//                 "max_input_chars_per_word" (integer), "model_max_length" (integer)}
//   "head":     {"type": "embedding", "pooling": "mean" | "cls" | "max", "normalize": bool,
//                "max_seq_length": integer (word pieces incl. [CLS]/[SEP]), "dim": integer}
//             | {"type": "classifier", "num_labels": integer, "id2label": {"0": "LABEL_0", ...},
//                "max_seq_length": integer}   (needs pooler.dense.* and classifier.*)
//   "source":   {"name": string, "fingerprint": "sha256:<hex of model.safetensors>",
//                "converter": string}
//   "tensors":  [{"name": string, "dtype": "f32", "shape": [d0, ...], "offset": u64,
//                 "nbytes": u64}, ...]   offset is from data_offset, a multiple of 64;
//               tensors do not overlap and lie inside the data; names are unique.
//
// Tensor names and layouts are Hugging Face BertModel's without a "bert." prefix, row-major,
// except that each layer's query, key and value projections are stored fused, in that order:
//   encoder.layer.{i}.attention.self.qkv.weight   [3*hidden, hidden]
//   encoder.layer.{i}.attention.self.qkv.bias     [3*hidden]
// The full list and shapes are checked by the encoder (model/encoder.h) at load.
//
// Loading (ModelFile::open) maps the file and checks, in this order and before any use: the
// size against the header, magic, version, header fields against each other, the checksum, the
// metadata JSON, and every tensor entry against the data area with overflow-checked arithmetic.
// Errors name the file and the field or tensor. Content is never trusted or asserted on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/mapped_file.h"

namespace bertrank::model {

constexpr char kBrmMagic[8] = {'B', 'E', 'R', 'T', 'R', 'A', 'N', 'K'};
constexpr uint32_t kBrmVersion = 1;
constexpr uint32_t kBrmHeaderSize = 64;
constexpr uint64_t kBrmAlign = 64;
constexpr uint64_t kBrmMaxMetaBytes = 1ull << 30;

// A tensor to write: `data` holds numel(shape) floats.
struct TensorToWrite {
  std::string name;
  std::vector<uint64_t> shape;
  const float* data = nullptr;
};

// Writes a .brm atomically through common/atomic_file.h: a unique temporary
// "<path>.tmp-<pid>-<random>" next to <path>, fsync, rename over <path>, fsync of the directory.
// Readers and concurrent writers of <path> (two `bertrank convert` to one output) always find a
// complete, valid model (the last rename wins); a killed write leaves <path> as it was and its
// temporary is removed by the next write to <path>. `meta` must not hold "tensors"; the writer
// adds it. If given, `check_before_rename` is called with the complete temporary's path before it
// replaces <path>; if it throws, the temporary is removed and <path> is untouched (convert uses
// it to load the result back, so a bad conversion never replaces a good model). Throws
// std::runtime_error naming the file and errno on I/O errors, or on duplicate tensor names.
void write_model_file(const std::string& path, const nlohmann::json& meta, const std::vector<TensorToWrite>& tensors,
                      const std::function<void(const std::string& temp_path)>& check_before_rename = {});

struct TensorRef {
  std::string name;
  std::vector<uint64_t> shape;
  const float* data = nullptr;  // 64-byte aligned, inside the mapping
  uint64_t numel = 0;
};

class ModelFile {
 public:
  // Maps and validates (see the spec above). Throws std::runtime_error("<path>: <what>").
  static ModelFile open(const std::string& path);

  const nlohmann::json& metadata() const { return meta_; }
  const std::string& path() const { return file_.path(); }
  const TensorRef* find(const std::string& name) const;  // null if absent
  // The tensor, which must exist with exactly this shape; else throws naming it.
  const TensorRef& require(const std::string& name, const std::vector<uint64_t>& shape) const;
  const std::vector<TensorRef>& tensors() const { return tensors_; }
  // Drops a tensor's whole pages from the resident set (release_pages in mapped_file.h); they
  // are read back from the file if used again. For tensors copied elsewhere (packed weights).
  void release(const TensorRef& t) const;

 private:
  MappedFile file_;
  nlohmann::json meta_;
  std::vector<TensorRef> tensors_;
  std::map<std::string, size_t> index_;
};

std::string shape_str(const std::vector<uint64_t>& shape);

}  // namespace bertrank::model
