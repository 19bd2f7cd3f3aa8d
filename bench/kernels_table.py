#!/usr/bin/env python3
"""Turns kernels_bench JSON (--benchmark_out=FILE --benchmark_repetitions=N) into a markdown
table: per benchmark, the fastest and the median repetition as time and GB/s of weight bytes
(10^9 bytes per second). On a shared machine the fastest repetition is the closest to the
kernel's own cost; the median shows how much the neighbours took.

    build/bin/kernels_bench --benchmark_repetitions=5 --benchmark_out=k.json
    bench/kernels_table.py k.json
"""
import json
import statistics
import sys
from collections import OrderedDict


def main(path):
    with open(path) as f:
        data = json.load(f)
    runs = OrderedDict()
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].replace("/real_time", "")
        bytes_per_iteration = b.get("bytes_per_second", 0.0) * b["real_time"] * 1e-6  # us
        runs.setdefault(name, []).append((b["real_time"], bytes_per_iteration))
    ctx = data["context"]
    print(f"host: {ctx.get('host_name', '?')}, {ctx.get('num_cpus')} CPUs @ {ctx.get('mhz_per_cpu')} MHz, "
          f"load average {ctx.get('load_avg')}, {ctx.get('date')}\n")
    print("| benchmark | fastest us | fastest GB/s | median us | median GB/s |")
    print("|---|---:|---:|---:|---:|")
    for name, samples in runs.items():
        times = [t for t, _ in samples]
        weight_bytes = samples[0][1]
        fastest, median = min(times), statistics.median(times)
        gbps = lambda us: weight_bytes / (us * 1e-6) / 1e9 if weight_bytes else float("nan")
        print(f"| {name} | {fastest:.2f} | {gbps(fastest):.2f} | {median:.2f} | {gbps(median):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])
