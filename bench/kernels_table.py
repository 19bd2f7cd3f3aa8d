#!/usr/bin/env python3
"""Turns kernels_bench JSON (--benchmark_out=FILE --benchmark_repetitions=N) into markdown tables.

Default: per benchmark, the fastest and the median repetition as time and GB/s of weight bytes
(10^9 bytes per second). On a shared machine the fastest repetition is the closest to the
kernel's own cost; the median shows how much the neighbours took.

--pivot: one row per <format>/<set>/<shape>/t<threads> and one column per <mode>/<isa> (f32
dequantising naive/fma, int8 dots), each cell the median GB/s, then the int8 speed-up over the
best f32 cell of the row. Several JSON files may be given (runs split by --benchmark_filter).

    build/bin/kernels_bench --benchmark_repetitions=5 --benchmark_out=k.json
    bench/kernels_table.py k.json
    bench/kernels_table.py --pivot k1.json k2.json
"""
import json
import statistics
import sys
from collections import OrderedDict


def load(paths):
    runs = OrderedDict()
    contexts = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        contexts.append(data["context"])
        for b in data["benchmarks"]:
            if b.get("run_type") != "iteration":
                continue
            name = b["run_name"].replace("/real_time", "")
            bytes_per_iteration = b.get("bytes_per_second", 0.0) * b["real_time"] * 1e-6  # us
            runs.setdefault(name, []).append((b["real_time"], bytes_per_iteration))
    return runs, contexts


def gbps(weight_bytes, us):
    return weight_bytes / (us * 1e-6) / 1e9 if weight_bytes else float("nan")


def print_context(contexts):
    for ctx in contexts:
        print(f"host: {ctx.get('host_name', '?')}, {ctx.get('num_cpus')} CPUs @ {ctx.get('mhz_per_cpu')} MHz, "
              f"load average {ctx.get('load_avg')}, {ctx.get('date')}")
    print()


def flat(runs):
    print("| benchmark | fastest us | fastest GB/s | median us | median GB/s | reps |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, samples in runs.items():
        times = [t for t, _ in samples]
        weight_bytes = samples[0][1]
        fastest, median = min(times), statistics.median(times)
        print(f"| {name} | {fastest:.2f} | {gbps(weight_bytes, fastest):.2f} | {median:.2f} | "
              f"{gbps(weight_bytes, median):.2f} | {len(times)} |")


def pivot(runs):
    # <format>/<mode>/<isa>/t<threads>/<set>/<rows>x<cols>
    table = OrderedDict()
    columns = []
    for name, samples in runs.items():
        parts = name.split("/")
        if len(parts) != 6 or parts[1] not in ("naive", "fma", "int8"):
            continue
        fmt, mode, isa, threads, work_set, shape = parts
        row = f"{fmt} {shape} {work_set} {threads}"
        column = f"{mode}/{isa}"
        if column not in columns:
            columns.append(column)
        median = statistics.median(t for t, _ in samples)
        table.setdefault(row, {})[column] = gbps(samples[0][1], median)
    columns.sort(key=lambda c: (c.startswith("int8"), c))
    print("median GB/s of weights (codes + scales + biases)\n")
    print("| matrix | " + " | ".join(columns) + " | int8 / best f32 |")
    print("|---|" + "---:|" * (len(columns) + 1))
    for row, cells in table.items():
        best_f32 = max((v for c, v in cells.items() if not c.startswith("int8")), default=float("nan"))
        best_int8 = max((v for c, v in cells.items() if c.startswith("int8")), default=float("nan"))
        text = " | ".join(f"{cells[c]:.2f}" if c in cells else "" for c in columns)
        print(f"| {row} | {text} | {best_int8 / best_f32:.2f}x |")


def main(argv):
    as_pivot = "--pivot" in argv
    paths = [a for a in argv if a != "--pivot"]
    runs, contexts = load(paths)
    print_context(contexts)
    if as_pivot:
        pivot(runs)
    else:
        flat(runs)


if __name__ == "__main__":
    main(sys.argv[1:])
