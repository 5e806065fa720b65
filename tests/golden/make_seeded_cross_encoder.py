#!/usr/bin/env python3
"""Builds a BertForSequenceClassification checkpoint (num_labels = 1) from all-MiniLM-L6-v2.

Why: no PyPI package we could reach ships real cross-encoder weights (see weights/README or the
closing note of issue 5 for the packages inspected), yet the cross-encoder head must be proven
end to end: pair encoding with token_type_ids, the BERT pooler (dense + tanh on [CLS]) and the
classifier. This checkpoint is the all-MiniLM-L6-v2 encoder (tensors copied byte for byte,
renamed with the "bert." prefix as BertForSequenceClassification names them) plus a seeded
pooler and classifier. Its scores carry no relevance signal; it exists for parity tests.

The new weights come from a fixed splitmix64 stream as 16-bit fractions times a power of two,
so they are exact in float32 and every machine writes the same bytes (the script prints the
SHA-256 of model.safetensors; tests/golden/rerank_golden.jsonl records it). A C++ test could
regenerate them with the same 10 lines. Pure Python standard library: no numpy, no PyTorch.

usage: make_seeded_cross_encoder.py <all-MiniLM-L6-v2 dir> <out dir>
"""
import array
import hashlib
import json
import os
import shutil
import struct
import sys

SEED = 20261123
POOLER_W_HALF = 0.125    # uniform in [-h, h): pre-activation std ~ 1.4 * rms(CLS state)
POOLER_B_HALF = 0.0625
CLASSIFIER_W_HALF = 0.5  # logits of a few units, like the ms-marco cross-encoders
CLASSIFIER_B_HALF = 0.25
MAX_LENGTH = 512         # cross-encoders are used at 512 word pieces

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

    def uniform(self, n, half_width):
        # (top 16 bits) / 32768 - 1 is in [-1, 1) with 16-bit resolution; times a power of two
        # it is exact in float32.
        out = array.array("f", bytes(4 * n))
        for i in range(n):
            out[i] = ((self.next() >> 48) / 32768.0 - 1.0) * half_width
        return out


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], data[base + b:base + e])
    return out


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, raw little-endian bytes), written in that order."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, _, _, raw in tensors:
            f.write(raw)


def f32_bytes(arr):
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tobytes()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(src, "config.json")) as f:
        src_cfg = json.load(f)
    H = src_cfg["hidden_size"]
    enc = read_safetensors(os.path.join(src, "model.safetensors"))

    tensors = []
    for name in sorted(enc):
        if name.startswith("pooler.") or name.endswith("position_ids"):
            continue  # the pooler is replaced below; position_ids is a buffer, not a weight
        dtype, shape, raw = enc[name]
        tensors.append(("bert." + name, dtype, shape, raw))
    rng = SplitMix64(SEED)
    tensors.append(("bert.pooler.dense.weight", "F32", [H, H], f32_bytes(rng.uniform(H * H, POOLER_W_HALF))))
    tensors.append(("bert.pooler.dense.bias", "F32", [H], f32_bytes(rng.uniform(H, POOLER_B_HALF))))
    tensors.append(("classifier.weight", "F32", [1, H], f32_bytes(rng.uniform(H, CLASSIFIER_W_HALF))))
    tensors.append(("classifier.bias", "F32", [1], f32_bytes(rng.uniform(1, CLASSIFIER_B_HALF))))

    cfg = {k: v for k, v in src_cfg.items() if k not in ("_name_or_path", "transformers_version", "use_cache",
                                                          "gradient_checkpointing")}
    cfg.update({
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "id2label": {"0": "LABEL_0"},
        "label2id": {"LABEL_0": 0},
        "num_labels": 1,
        "classifier_dropout": None,
    })

    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    write_safetensors(os.path.join(tmp, "model.safetensors"), tensors)

    def dump(rel, obj):
        with open(os.path.join(tmp, rel), "w") as f:
            json.dump(obj, f, indent=2)

    dump("config.json", cfg)
    shutil.copyfile(os.path.join(src, "vocab.txt"), os.path.join(tmp, "vocab.txt"))
    with open(os.path.join(src, "tokenizer.json")) as f:
        tj = json.load(f)
    tj["truncation"] = None  # callers choose: pairs are truncated longest_first to MAX_LENGTH
    tj["padding"] = None
    dump("tokenizer.json", tj)
    dump("tokenizer_config.json", {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "tokenize_chinese_chars": True,
        "strip_accents": None, "do_basic_tokenize": True, "never_split": None, "unk_token": "[UNK]",
        "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
        "model_max_length": MAX_LENGTH})
    dump("special_tokens_map.json", {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                                     "cls_token": "[CLS]", "mask_token": "[MASK]"})
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)
    with open(os.path.join(out_dir, "model.safetensors"), "rb") as f:
        print("seeded-cross-encoder: model.safetensors sha256", hashlib.sha256(f.read()).hexdigest())


if __name__ == "__main__":
    main()
