#!/usr/bin/env bash
# A/B: the same benchmarks from two builds, interleaved, medians and ratios in one table.
# For refactors that must not change speed (issue 14): build the old commit in another tree
# (git worktree add /tmp/base <rev>; cmake -S /tmp/base -B /tmp/base/build; cmake --build ...),
# then
#   bench/ab_compare.sh /tmp/base/build build [rounds]
# Each round runs, for A then B (the order flips every round): bench_kernels' GEMM rows with
# M >= 512 and attention, bench_tokenizer, and bench_e2e on a small fixed plan (32 MEDLINE
# abstracts at batch 32 and <= 256 word pieces, 32 Cranfield queries one per call, the
# single-query latency, a rerank of 20 abstracts; fp32 and int8; 1 and 2 threads).
# Prints one row per benchmark: median of A, median of B, B/A (for rates: > 1 is faster;
# for times: < 1 is faster), and the load average before and after.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
a=$(cd "$1" && pwd) b=$(cd "$2" && pwd) rounds=${3:-3}
data=${BERTRANK_DATA:-$root/../shared/data}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[ -f "$data/ir/medline/MED.ALL" ] || { echo "ab_compare: needs $data/ir (../shared/data)" >&2; exit 2; }

python3 - "$data" "$out/plan.json" <<'PY'
import json, sys
def smart(path):  # the .W text of each record (retrieval/smart.h's rules, enough for a plan)
    docs, cur, inw = [], [], False
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith("."):
            if line.startswith(".I") and cur: docs.append(" ".join(cur)); cur = []
            inw = line.startswith(".W"); continue
        if inw: cur.append(line.strip())
    if cur: docs.append(" ".join(cur))
    return docs
d = sys.argv[1]
med = smart(d + "/ir/medline/MED.ALL")[:64]
qry = smart(d + "/ir/cranfield/cran.qry")[:64]
short = [i for i, q in enumerate(qry) if len(q.split()) <= 10][:16]
plan = {"threads": [1, 2], "corpora": {"medline": med, "queries": qry},
        "rerank": {"query": qry[0], "docs": med[:20]},
        "tasks": [
            {"id": "medline/b32", "kind": "embed", "corpus": "medline", "idx": list(range(32)),
             "batch": 32, "max_length": 256, "reps": 3},
            {"id": "queries/b1", "kind": "embed", "corpus": "queries", "idx": list(range(32)),
             "batch": 1, "max_length": 256, "reps": 3},
            {"id": "latency/query", "kind": "latency", "corpus": "queries", "idx": short,
             "max_length": 256, "passes": 3},
            {"id": "rerank/20", "kind": "rerank", "n": 20, "reps": 2}]}
json.dump(plan, open(sys.argv[2], "w"))
PY

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "ab_compare: A=$a B=$b rounds=$rounds; load average before: $(load)"
gb=(--benchmark_min_time=0.2 --benchmark_format=json)
run_one() {  # build tag round
  local dir=$1 tag=$2 r=$3
  "$dir/bench/bench_kernels" "${gb[@]}" \
    --benchmark_filter='^gemm/ours(_gelu)?/(512|4096)/|^attention/ours' >"$out/$tag.kernels.$r.json" 2>/dev/null
  "$dir/bench/bench_tokenizer" "${gb[@]}" >"$out/$tag.tok.$r.json" 2>/dev/null
  for p in fp32 int8; do
    (cd "$root" && "$dir/bench/bench_e2e" --plan "$out/plan.json" --precision $p) \
      >>"$out/$tag.e2e.$r.jsonl" 2>/dev/null
  done
}
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then run_one "$a" A "$r"; run_one "$b" B "$r"; else run_one "$b" B "$r"; run_one "$a" A "$r"; fi
  echo "  round $r done, load $(load)"
done

python3 - "$out" "$rounds" <<'PY'
import glob, json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
vals = {}  # (name, unit) -> {"A": [...], "B": [...]}
def add(tag, name, unit, v):
    vals.setdefault((name, unit), {"A": [], "B": []})[tag].append(v)
for tag in "AB":
    for f in glob.glob("%s/%s.kernels.*.json" % (out, tag)) + glob.glob("%s/%s.tok.*.json" % (out, tag)):
        for bm in json.load(open(f))["benchmarks"]:
            name = bm["name"].replace("/real_time", "")
            if "GFLOPS" in bm: add(tag, name, "GFLOP/s", bm["GFLOPS"])
            elif "bytes_per_second" in bm: add(tag, name, "MB/s", bm["bytes_per_second"] / 1e6)
            else: add(tag, name, "ms", bm["real_time"] * {"ns": 1e-6, "us": 1e-3, "ms": 1, "s": 1e3}[bm["time_unit"]])
    for f in glob.glob("%s/%s.e2e.*.jsonl" % (out, tag)):
        for line in open(f):
            row = json.loads(line)
            if "task" not in row: continue
            name = "e2e/%s/%s/threads:%d" % (row["task"], row["precision"], row["threads"])
            if row["task"].startswith("latency"):
                add(tag, name, "ms p50", statistics.median(row["times"]) * 1e3)
            else:
                add(tag, name, "texts/s", row["texts"] / statistics.median(row["times"]))
print("| benchmark | unit | A median | B median | B/A |")
print("|---|---|---|---|---|")
for (name, unit), d in sorted(vals.items()):
    if not d["A"] or not d["B"]: continue
    ma, mb = statistics.median(d["A"]), statistics.median(d["B"])
    print("| %s | %s | %.4g | %.4g | %.3f |" % (name, unit, ma, mb, mb / ma if ma else float("nan")))
PY
echo "load average after: $(load)"
