#!/usr/bin/env python3
"""Generates tests/golden/tokenizer_golden.jsonl: the reference output of Hugging Face
`tokenizers` (WordPiece, all-MiniLM-L6-v2) that bertrank's C++ tokenizer must reproduce.

    <ref-venv>/bin/python tests/golden/gen_tokenizer_goldens.py [--out F] [--data D] [--tokenizer T]

The reference environment is made by tests/golden/make_ref_venv.sh; the file format and the
hash are described in tests/golden/README.md. The output depends only on the inputs and the
tokenizers version (written in the first line), so rerunning the script reproduces it byte for
byte.

Contents, in order:
  meta    one line: tokenizers version and vocab name
  hard    tests/data/tokenizer_hard_cases.jsonl plus a few long inputs built here, full outputs
  single  every record of four SMART files (../shared/data/ir), hashed; documents also at 256
  pair    query/document pairs from the relevance judgements, reversed pairs, document pairs
"""
import argparse
import base64
import collections
import json
import os
import struct
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB_NAME = "all-MiniLM-L6-v2"

# SMART files used for the corpus cases, relative to <data>/ir. Documents get an extra
# truncated encoding at DOC_MAX_LENGTH.
CRAN_DOCS, CRAN_QRY, CRAN_REL = "cranfield/cran.all.1400", "cranfield/cran.qry", "cranfield/cranqrel"
MED_DOCS, MED_QRY, MED_REL = "medline/MED.ALL", "medline/MED.QRY", "medline/MED.REL"
SMART_FILES = [CRAN_DOCS, CRAN_QRY, MED_DOCS, MED_QRY]
DOC_FILES = {CRAN_DOCS, MED_DOCS}
DOC_MAX_LENGTH = 256
PAIR_MAX_LENGTHS = (128, 256)
CRAN_DOCS_PER_QUERY = 3
N_REVERSED_PAIRS = 200
N_DOC_PAIRS = 100
N_DOC_SELF_PAIRS = 10  # identical a and b: the equal-length branch of longest_first

CASE_KEYS = {"name", "text", "bytes_b64", "text_b", "bytes_b64_b", "max_length", "divergence"}


# ---------------------------------------------------------------------------------------------
# Hash (must match the C++ test; see README.md)

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


def fnv1a64_int32(values):
    h = FNV_OFFSET
    for b in struct.pack("<%di" % len(values), *values):
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return "%016x" % h


def encoding_hash(enc):
    seq = list(enc.ids) + list(enc.type_ids)
    for s, e in enc.offsets:
        seq += (s, e)
    return fnv1a64_int32(seq)


# ---------------------------------------------------------------------------------------------
# SMART reader: the same rules as retrieval/smart.cpp (bytes in, so nothing is lost).

WS = b" \t\r\n\v\f"


def read_smart(path):
    """Returns [(id, {field: bytes}, text_bytes)] in file order."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()  # std::getline yields no empty line after a final newline
    out, current, field = [], [], None

    def flush():
        nonlocal current, field
        if out and field is not None:
            out[-1][1][field] = b"\n".join(current).strip(WS)
        current, field = [], None

    for lineno, line in enumerate(lines, 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.startswith(b".I") and (len(line) == 2 or line[2:3] in (b" ", b"\t")):
            flush()
            rid = line[2:].strip(WS)
            if not rid:
                raise ValueError("%s:%d: record without an id after .I" % (path, lineno))
            out.append((rid.decode("utf-8", "replace"), {}))
            continue
        t = line.strip(WS)
        if len(t) == 2 and t[0:1] == b"." and 65 <= t[1] <= 90:
            flush()
            if not out:
                raise ValueError("%s:%d: field before the first .I line" % (path, lineno))
            field = chr(t[1])
            continue
        if not out:
            if not t:
                continue
            raise ValueError("%s:%d: text before the first .I line" % (path, lineno))
        if field is None:
            continue
        current.append(line)
    flush()
    records = []
    for rid, fields in out:
        w = fields.get("W", b"")
        text = w if w else fields.get("T", b"")
        records.append((rid, fields, text))
    return records


def read_qrels(path):
    """Returns [(query_id, doc_id, grade)] in file order."""
    out = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            cols = raw.decode("utf-8", "replace").split()
            if not cols:
                continue
            if len(cols) == 3:
                out.append((cols[0], cols[1], int(cols[2])))
            elif len(cols) == 4:
                out.append((cols[0], cols[2], int(cols[3])))
            else:
                raise ValueError("%s:%d: expected 3 or 4 columns" % (path, lineno))
    return out


# ---------------------------------------------------------------------------------------------
# Reference encoding

class Reference:
    def __init__(self, tokenizer_json):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(tokenizer_json)
        # The model's tokenizer.json ships with truncation 128 and fixed padding 128: switch both
        # off; truncation is set per case below.
        self.tok.no_truncation()
        self.tok.no_padding()
        self._max_length = None

    def encode(self, a, b=None, max_length=0):
        if max_length != self._max_length:
            if max_length:
                self.tok.enable_truncation(max_length=max_length, stride=0, strategy="longest_first",
                                           direction="right")
            else:
                self.tok.no_truncation()
            self._max_length = max_length
        if b is None:
            return self.tok.encode(a, add_special_tokens=True)
        return self.tok.encode(a, b, add_special_tokens=True)


def decode_lossy(raw):
    # bertrank's documented rule: each maximal ill-formed subsequence -> one U+FFFD.
    return raw.decode("utf-8", errors="replace")


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Hard cases

def load_hard_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            c = json.loads(line)
            unknown = set(c) - CASE_KEYS
            if unknown:
                raise ValueError("%s:%d: unknown keys %s" % (path, lineno, sorted(unknown)))
            if "name" not in c or (("text" in c) == ("bytes_b64" in c)):
                raise ValueError("%s:%d: need a name and exactly one of text/bytes_b64" % (path, lineno))
            if "text_b" in c and "bytes_b64_b" in c:
                raise ValueError("%s:%d: text_b and bytes_b64_b are exclusive" % (path, lineno))
            cases.append(c)
    return cases


class Lcg:
    """Tiny deterministic generator (independent of Python's random module across versions)."""

    def __init__(self, seed):
        self.x = seed

    def next(self, n):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & MASK64
        return (self.x >> 33) % n


WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at "
         "which but have an they you were her she there been one all we their has would when if so "
         "aerodynamic boundary-layer flow pressure distribution supersonic wing heat transfer "
         "naïve café résumé Zürich São Paulo İstanbul straße Ελλάδα Москва 東京 서울 "
         "(e.g., 3.5%) [1] $100 state-of-the-art don't U.S.A. 2024-05-01 x² — … “quoted” "
         "tokenization internationalization unbelievably").split()


def gen_text(n_words, seed):
    rng = Lcg(seed)
    return " ".join(WORDS[rng.next(len(WORDS))] for _ in range(n_words))


def generated_hard_cases():
    """Long inputs that are tedious to write by hand."""
    words_5000 = gen_text(5000, 1)
    words_600 = gen_text(600, 2)
    cjk = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(800))
    return [
        {"name": "gen/words-5000-trunc-512", "text": words_5000, "max_length": 512},
        {"name": "gen/words-600-trunc-128", "text": words_600, "max_length": 128},
        {"name": "gen/words-600-trunc-256", "text": words_600, "max_length": 256},
        {"name": "gen/words-150-untruncated", "text": gen_text(150, 4)},
        {"name": "gen/cjk-800-trunc-256", "text": cjk, "max_length": 256},
        {"name": "gen/spaces-3000-then-word", "text": " " * 3000 + "end", "max_length": 128},
        {"name": "gen/unk-words-101-trunc-32", "text": " ".join(["q" * 101] * 40), "max_length": 32},
        {"name": "gen/pair-long-a-short-b-128", "text": gen_text(300, 5), "text_b": gen_text(10, 6),
         "max_length": 128},
        {"name": "gen/pair-short-a-long-b-128", "text": gen_text(10, 7), "text_b": gen_text(300, 8),
         "max_length": 128},
        {"name": "gen/pair-long-long-256", "text": gen_text(300, 9), "text_b": gen_text(400, 10),
         "max_length": 256},
    ]


def hard_records(ref, cases):
    for c in cases:
        a = c["text"] if "text" in c else decode_lossy(base64.b64decode(c["bytes_b64"], validate=True))
        b = None
        if "text_b" in c:
            b = c["text_b"]
        elif "bytes_b64_b" in c:
            b = decode_lossy(base64.b64decode(c["bytes_b64_b"], validate=True))
        ml = int(c.get("max_length", 0))
        enc = ref.encode(a, b, ml)
        rec = {"kind": "hard", "name": c["name"]}
        for k in ("text", "bytes_b64", "text_b", "bytes_b64_b", "divergence"):
            if k in c:
                rec[k] = c[k]
        rec["max_length"] = ml
        rec["ids"] = list(enc.ids)
        rec["type_ids"] = list(enc.type_ids)
        rec["offsets"] = [list(o) for o in enc.offsets]
        yield rec


# ---------------------------------------------------------------------------------------------
# Corpus and pair cases

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests/golden/tokenizer_golden.jsonl"))
    ap.add_argument("--data", default=os.path.normpath(os.path.join(REPO, "../shared/data")),
                    help="data root holding ir/cranfield and ir/medline (default: ../shared/data)")
    ap.add_argument("--tokenizer", default=os.path.join(REPO, "weights/hf", VOCAB_NAME, "tokenizer.json"))
    ap.add_argument("--cases", default=os.path.join(REPO, "tests/data/tokenizer_hard_cases.jsonl"))
    args = ap.parse_args()

    import tokenizers

    ref = Reference(args.tokenizer)
    ir = os.path.join(args.data, "ir")

    records = {f: read_smart(os.path.join(ir, f)) for f in SMART_FILES}
    texts = {f: [decode_lossy(r[2]) for r in recs] for f, recs in records.items()}
    index_of = {f: {r[0]: i for i, r in enumerate(recs)} for f, recs in records.items()}
    for f, recs in records.items():
        if len(index_of[f]) != len(recs):
            raise ValueError("%s: duplicate record ids" % f)

    out_lines = [dumps({"kind": "meta", "tokenizers": tokenizers.__version__, "vocab": VOCAB_NAME})]
    counts = collections.Counter()

    # 1. hard cases
    cases = load_hard_cases(args.cases) + generated_hard_cases()
    names = [c["name"] for c in cases]
    dup = [n for n, k in collections.Counter(names).items() if k > 1]
    if dup:
        raise ValueError("duplicate case names: %s" % dup)
    for rec in hard_records(ref, cases):
        out_lines.append(dumps(rec))
        counts["hard"] += 1

    # 2. single encodings of every record
    content_len = {}  # (file, record) -> word pieces without special tokens
    for f in SMART_FILES:
        for i, text in enumerate(texts[f]):
            enc = ref.encode(text)
            content_len[(f, i)] = len(enc.ids) - 2
            out_lines.append(dumps({"kind": "single", "file": f, "record": i, "max_length": 0,
                                    "n": len(enc.ids), "hash": encoding_hash(enc)}))
            counts["single"] += 1
    for f in SMART_FILES:
        if f not in DOC_FILES:
            continue
        for i, text in enumerate(texts[f]):
            if content_len[(f, i)] + 2 <= DOC_MAX_LENGTH:
                continue  # would repeat the untruncated entry
            enc = ref.encode(text, None, DOC_MAX_LENGTH)
            out_lines.append(dumps({"kind": "single", "file": f, "record": i,
                                    "max_length": DOC_MAX_LENGTH, "n": len(enc.ids),
                                    "hash": encoding_hash(enc)}))
            counts["single@%d" % DOC_MAX_LENGTH] += 1

    # 3. pairs
    def qrel_pairs(qry, docs, rel, cranfield):
        pairs, per_query = [], collections.Counter()
        for q, d, _grade in read_qrels(os.path.join(ir, rel)):
            if cranfield:
                qi = int(q) - 1  # judgements number the queries 1..225 in file order
                if not 0 <= qi < len(records[qry]):
                    raise ValueError("%s: query %s out of range" % (rel, q))
                if per_query[qi] >= CRAN_DOCS_PER_QUERY:
                    continue
                per_query[qi] += 1
            else:
                qi = index_of[qry][q]
            pairs.append(((qry, qi), (docs, index_of[docs][d])))
        return pairs

    qd = qrel_pairs(CRAN_QRY, CRAN_DOCS, CRAN_REL, True) + qrel_pairs(MED_QRY, MED_DOCS, MED_REL, False)

    def emit_pair(a, b, ml, tag):
        enc = ref.encode(texts[a[0]][a[1]], texts[b[0]][b[1]], ml)
        n = len(enc.ids)
        n_b = sum(enc.type_ids) - 1  # type 1: b's pieces and the final [SEP]
        n_a = n - 3 - n_b
        out_lines.append(dumps({"kind": "pair", "a": {"file": a[0], "record": a[1]},
                                "b": {"file": b[0], "record": b[1]}, "max_length": ml, "n": n,
                                "n_a": n_a, "n_b": n_b, "hash": encoding_hash(enc)}))
        counts["pair/" + tag] += 1

    # At the larger max length only the pairs that are cut (the others are plain concatenations,
    # already covered by the short pairs at 128); this keeps the fixture under 1 MB.
    for ml in PAIR_MAX_LENGTHS:
        for a, b in qd:
            if ml != PAIR_MAX_LENGTHS[0] and content_len[a] + content_len[b] + 3 <= ml:
                continue
            emit_pair(a, b, ml, "query-doc@%d" % ml)

    # Reversed (document first): evenly spaced over the query/document pairs.
    for k in range(N_REVERSED_PAIRS):
        a, b = qd[k * len(qd) // N_REVERSED_PAIRS]
        emit_pair(b, a, PAIR_MAX_LENGTHS[k % 2], "doc-query")

    # Two long documents at 128 (both longer than half the budget, so both are cut).
    long_docs = [(f, i) for f in (CRAN_DOCS, MED_DOCS) for i in range(len(texts[f]))
                 if content_len[(f, i)] >= 128]
    m = len(long_docs)
    for k in range(N_DOC_PAIRS - N_DOC_SELF_PAIRS):
        a = long_docs[(k * 37) % m]
        b = long_docs[(k * 101 + 13) % m]
        if a == b:
            b = long_docs[(k * 101 + 14) % m]
        emit_pair(a, b, 128, "doc-doc")
    for k in range(N_DOC_SELF_PAIRS):
        a = long_docs[(k * 211 + 5) % m]
        emit_pair(a, a, 128, "doc-doc")

    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out_lines) + "\n")
    os.replace(tmp, args.out)

    print("tokenizers %s, %s" % (tokenizers.__version__, args.tokenizer))
    for k in sorted(counts):
        print("  %-22s %6d" % (k, counts[k]))
    print("  %-22s %6d lines, %d bytes -> %s" % ("total", len(out_lines), os.path.getsize(args.out), args.out))


if __name__ == "__main__":
    sys.exit(main())
