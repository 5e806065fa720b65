#!/usr/bin/env python3
"""Markdown tables of a bench_kernels run (the tables in bench/README.md).

    build/bench/bench_kernels --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \\
        --benchmark_min_time=0.3 --benchmark_out=run.json --benchmark_out_format=json
    python3 bench/kernels_table.py run.json

Takes the median aggregate of every benchmark (or the single run when there are no
repetitions). Rate counters are per second as Google Benchmark prints them: GFLOPS,
pct_peak (percent of the FMA peak the binary measured at start, for the benchmark's thread
count), pct_peak_cpu (per CPU-second received, one thread), GBps, pct_bw, tokens_per_s.
Standard library only.
"""
import json
import re
import sys


def load(path):
    with open(path) as f:
        run = json.load(f)
    rows = {}
    for b in run["benchmarks"]:
        agg = b.get("aggregate_name")
        if agg not in (None, "median"):
            continue
        name = b.get("run_name", b["name"])
        name = re.sub(r"/real_time$", "", name)
        if agg is None and name in rows:
            continue  # repetitions without aggregates: keep the first
        rows[name] = b
    return run.get("context", {}), rows


def f1(x):
    return "" if x is None else f"{x:.1f}"


def pct(x):
    return "" if x is None else f"{x:.0f}%"


def get(rows, name, key):
    b = rows.get(name)
    return None if b is None else b.get(key)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: kernels_table.py run.json")
    ctx, rows = load(sys.argv[1])
    print(f"Run {ctx.get('date', '?')} on {ctx.get('host_name', '?')}, "
          f"{ctx.get('num_cpus', '?')} CPUs; load average {ctx.get('load_avg', '?')}.")
    for key in ("ceilings", "openblas"):
        if key in ctx:
            print(f"{key}: {ctx[key]}")
    print()

    shapes = [(384, 384), (1152, 384), (1536, 384), (384, 1536)]
    print("| M | N | K | threads | ours GFLOPS | ours % peak | OpenBLAS GFLOPS | OpenBLAS % peak "
          "| ours / OpenBLAS | ours % peak per CPU-s | OpenBLAS % peak per CPU-s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for th in (1, 2):
        for n, k in shapes:
            for m in (1, 16, 128, 512, 4096):
                ours = f"gemm/ours/{m}/{n}/{k}/threads:{th}"
                ob = f"gemm/openblas/{m}/{n}/{k}/threads:{th}"
                go, gb = get(rows, ours, "GFLOPS"), get(rows, ob, "GFLOPS")
                if go is None:
                    continue
                ratio = f"{go / gb:.2f}" if gb else ""
                print(f"| {m} | {n} | {k} | {th} | {f1(go)} | {pct(get(rows, ours, 'pct_peak'))} | "
                      f"{f1(gb)} | {pct(get(rows, ob, 'pct_peak'))} | {ratio} | "
                      f"{pct(get(rows, ours, 'pct_peak_cpu')) or '–'} | "
                      f"{pct(get(rows, ob, 'pct_peak_cpu')) or '–'} |")
    print()

    print("| GEMM + bias + exact GELU fused (M, N, K, threads) | GFLOPS | % peak | vs plain GEMM |")
    print("|---|---:|---:|---:|")
    for th in (1, 2):
        for m in (128, 512, 4096):
            g = f"gemm/ours_gelu/{m}/1536/384/threads:{th}"
            p = f"gemm/ours/{m}/1536/384/threads:{th}"
            gg, gp = get(rows, g, "GFLOPS"), get(rows, p, "GFLOPS")
            if gg is None:
                continue
            print(f"| {m}, 1536, 384, {th} | {f1(gg)} | {pct(get(rows, g, 'pct_peak'))} | "
                  f"{gg / gp:.2f} |" if gp else f"| {m}, 1536, 384, {th} | {f1(gg)} | | |")
    print()

    print("| M=1, weights from DRAM (N, K, threads) | ours GB/s | ours % read bw "
          "| OpenBLAS sgemv GB/s | % read bw |")
    print("|---|---:|---:|---:|---:|")
    for th in (1, 2):
        for n, k in shapes:
            o = f"gemv_cold/ours/{n}/{k}/threads:{th}"
            b = f"gemv_cold/openblas_sgemv/{n}/{k}/threads:{th}"
            if get(rows, o, "GBps") is None:
                continue
            print(f"| {n}, {k}, {th} | {f1(get(rows, o, 'GBps'))} | {pct(get(rows, o, 'pct_bw'))} | "
                  f"{f1(get(rows, b, 'GBps'))} | {pct(get(rows, b, 'pct_bw'))} |")
    print()

    print("| attention, 12 heads × 32 (L, threads) | ours GFLOPS | % peak | tokens/s | ref GFLOPS |")
    print("|---|---:|---:|---:|---:|")
    for th in (1, 2):
        for L in (16, 128, 256, 512):
            o = f"attention/ours/{L}/threads:{th}"
            if get(rows, o, "GFLOPS") is None:
                continue
            tok = get(rows, o, "tokens_per_s")
            print(f"| {L}, {th} | {f1(get(rows, o, 'GFLOPS'))} | {pct(get(rows, o, 'pct_peak'))} | "
                  f"{tok:.0f} | {f1(get(rows, f'attention/ref/{L}/threads:{th}', 'GFLOPS'))} |")
    print()

    print("| row kernel (1 thread) | ours GB/s | % read bw | ref GB/s |")
    print("|---|---:|---:|---:|")
    for name in ("layernorm/·/128/384", "layernorm/·/4096/384", "gelu_erf/·/196608", "gelu_erf/·/6291456"):
        o, r = name.replace("·", "ours"), name.replace("·", "ref")
        if get(rows, o, "GBps") is None:
            continue
        print(f"| {name} | {f1(get(rows, o, 'GBps'))} | {pct(get(rows, o, 'pct_bw'))} | "
              f"{f1(get(rows, r, 'GBps'))} |")


if __name__ == "__main__":
    main()
