#!/usr/bin/env python3
"""Summary of a scripts/bench-streaming.sh run: derived figures and a markdown table.

usage: summarize.py RUNS.jsonl RESULT.json MODEL_BYTES RAM_BYTES [CGROUP_ROOT]
RUNS.jsonl holds one JSON object per streaming_bench call (disk, ram, decode runs).
"""
import json, sys
log, result, model_bytes, mem_total, cg_root = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
runs = [json.loads(line) for line in open(log) if line.strip()]
disk = next(r for r in runs if r["what"] == "disk")
ram = next(r for r in runs if r["what"] == "ram")
decodes = [r for r in runs if r["what"] == "decode"]
rows = []
for d in decodes:
    bpt = d["expert_bytes_read_per_token"]
    tok_s = d["decode_tok_s"]
    io_ms = d["phase_ms_per_token"]["expert_io_wait"]
    touched = d["resident_bytes_touched_per_token"] + bpt
    rss_budget_mb = (d["resident_bytes"] + d["io_buffer_bytes"]) * 1.10 / 1e6
    ram_gbps = ram["read_gbps_1thread"] if d.get("compute_threads", 1) == 1 else ram["read_gbps_all"]
    row = {
        "label": d["label"], "io": d["io"], "compute_threads": d["compute_threads"], "decode_tok_s": tok_s, "ttft_ms": d["ttft_ms"],
        "expert_mb_per_token": bpt / 1e6, "experts_per_token": d["experts_loaded_per_token"],
        "expert_gbps_per_decoded_token": bpt * tok_s / 1e9,
        "expert_gbps_during_io_wait": (bpt / (io_ms / 1e3) / 1e9) if io_ms > 0 else None,
        "share_of_disk_rand4m": bpt * tok_s / 1e9 / disk["rand4m_gbps"],
        "io_wait_share_of_disk_rand4m": ((bpt / (io_ms / 1e3) / 1e9) / disk["rand4m_gbps"]) if io_ms > 0 else None,
        "bytes_touched_per_token_mb": touched / 1e6,
        # The roofline for the threads the engine computed with: one thread's bandwidth for a
        # single-threaded run, all threads' otherwise.
        "ram_gbps_for_threads": ram_gbps,
        "ram_roofline_tok_s": ram_gbps * 1e9 / touched,
        "share_of_ram_roofline": tok_s / (ram_gbps * 1e9 / touched),
        "peak_rss_mb": d["peak_rss_mb"], "rss_budget_mb": rss_budget_mb,
        "rss_within_budget": d["peak_rss_mb"] <= rss_budget_mb,
        "phase_ms_per_token": d["phase_ms_per_token"],
    }
    rows.append(row)
summary = {
    "model": decodes[0]["model"] if decodes else None, "model_bytes": model_bytes, "ram_bytes": mem_total,
    "page_cache_limit": f"cgroup v2 memory.max ({cg_root})" if cg_root else "none available: posix_fadvise(DONTNEED) before each run; O_DIRECT / DONTNEED modes keep each token cold",
    "disk": disk, "ram": ram, "runs": rows, "build": decodes[0]["build"] if decodes else None,
}
json.dump(summary, open(result, "w"), indent=2)
print(f"\nmodel: {summary['model']}\n  {model_bytes/1e9:.2f} GB on disk, RAM {mem_total/1e9:.1f} GB; page cache limit: {summary['page_cache_limit']}")
print(f"disk (O_DIRECT, {disk['qd']} threads): sequential {disk['seq_gbps']:.2f} GB/s, 4 MiB random {disk['rand4m_gbps']:.2f} GB/s (QD1 {disk['rand4m_qd1_gbps']:.2f})"
      + (f", {disk['expert_read_bytes'] / 2**20:.2f} MiB (one expert) random {disk['rand_expert_gbps']:.2f} GB/s" if "rand_expert_gbps" in disk else ""))
print(f"RAM read: {ram['read_gbps_1thread']:.1f} GB/s (1 thread), {ram['read_gbps_all']:.1f} GB/s ({ram['threads']} threads)")
print(f"\n| run | threads | tok/s | expert MB/tok | expert GB/s (per token / during I/O) | share of disk 4M rand (per token / I/O) | RAM roofline share | peak RSS MB (budget) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    io = r["expert_gbps_during_io_wait"]
    ios = r["io_wait_share_of_disk_rand4m"]
    print(f"| {r['label']} | {r['compute_threads']} | {r['decode_tok_s']:.2f} | {r['expert_mb_per_token']:.1f} | {r['expert_gbps_per_decoded_token']:.2f} / {io if io is None else round(io, 2)} | "
          f"{100*r['share_of_disk_rand4m']:.0f}% / {'-' if ios is None else f'{100*ios:.0f}%'} | {100*r['share_of_ram_roofline']:.0f}% of {r['ram_roofline_tok_s']:.1f} tok/s | "
          f"{r['peak_rss_mb']:.0f} ({r['rss_budget_mb']:.0f}) |")
    print(f"|   phases ms/token | | " + ", ".join(f"{k} {v:.1f}" for k, v in r["phase_ms_per_token"].items()) + " | | | | | |")
print(f"\nresults: {result}")
