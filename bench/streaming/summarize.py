#!/usr/bin/env python3
"""Summary of a scripts/bench-streaming.sh run: derived figures and a markdown table.

usage: summarize.py LAB.db MODELS.jsonl RESULT.json RAM_BYTES
LAB.db is the lab database the script's experiments wrote (runs, metrics, and the machine
profile in each session's environment row); MODELS.jsonl holds one line per synth model (sizes
and shapes, recorded before the folder was deleted).
"""
import json, os, sqlite3, sys

db_path, models_path, result, mem_total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
models = {os.path.realpath(m["folder"]): m for m in (json.loads(l) for l in open(models_path) if l.strip())}
db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
db.row_factory = sqlite3.Row
phases = ["attention", "linear_attention", "routing", "expert_io_wait", "expert_compute", "lm_head", "other"]
runs = db.execute(
    f"""SELECT e.name AS experiment, e.plan_json, v.name AS label, v.options_json, r.status, r.stderr_tail,
               m.decode_tok_s, m.ttft_ms, m.expert_bytes_read_per_token, m.experts_loaded_per_token,
               m.peak_rss_mb, {", ".join(f"m.{p}_ms" for p in phases)},
               env.disk_rand_gbps, env.disk_read_block_bytes, env.disk_queue_depth, env.ram_read_gbps,
               env.ram_read_gbps_1t, env.profile_probe, env.budget_bytes, env.budget_enforced,
               env.budget_mechanism, env.budget_note
        FROM runs r JOIN experiments e ON e.id = r.experiment_id JOIN variants v ON v.id = r.variant_id
        LEFT JOIN metrics m ON m.run_id = r.id LEFT JOIN environment env ON env.id = r.environment_id
        ORDER BY r.experiment_id, r.ordinal""").fetchall()
if not runs:
    sys.exit(f"{db_path}: no runs recorded")
profile = runs[0]
rows, failures = [], []
for r in runs:
    if r["status"] != "ok":
        failures.append({"label": r["label"], "status": r["status"], "why": (r["stderr_tail"] or "").strip().splitlines()[-1:]})
        continue
    options = json.loads(r["options_json"])
    model = models[os.path.realpath(json.loads(r["plan_json"])["models"][0])]
    threads = int(options.get("threads", 1))
    bpt, tok_s = r["expert_bytes_read_per_token"], r["decode_tok_s"]
    io_ms = r["expert_io_wait_ms"] or 0
    # Every resident weight is read each token except the embedding table (one row, bf16).
    embed = model["vocab"] * model["hidden"] * 2
    touched = model["resident_bytes"] - embed + model["hidden"] * 2 + bpt
    rss_budget_mb = (model["resident_bytes"] + model["k"] * model["expert_stride"]) * 1.10 / 1e6
    # The roofline for the threads the engine computed with: one thread's bandwidth for a
    # single-threaded run, all cores' otherwise.
    ram_gbps = r["ram_read_gbps_1t"] if threads == 1 else r["ram_read_gbps"]
    disk_gbps = r["disk_rand_gbps"]
    rows.append({
        "label": r["label"], "experiment": r["experiment"], "io": options.get("io"), "compute_threads": threads,
        "layers": model["layers"], "decode_tok_s": tok_s, "ttft_ms": r["ttft_ms"],
        "expert_mb_per_token": bpt / 1e6, "experts_per_token": r["experts_loaded_per_token"],
        "expert_gbps_per_decoded_token": bpt * tok_s / 1e9,
        "expert_gbps_during_io_wait": (bpt / (io_ms / 1e3) / 1e9) if io_ms > 0 else None,
        "share_of_disk_random": (bpt * tok_s / 1e9 / disk_gbps) if disk_gbps else None,
        "io_wait_share_of_disk_random": ((bpt / (io_ms / 1e3) / 1e9) / disk_gbps) if io_ms > 0 and disk_gbps else None,
        "bytes_touched_per_token_mb": touched / 1e6,
        "ram_gbps_for_threads": ram_gbps,
        "ram_roofline_tok_s": ram_gbps * 1e9 / touched,
        "share_of_ram_roofline": tok_s / (ram_gbps * 1e9 / touched),
        "peak_rss_mb": r["peak_rss_mb"], "rss_budget_mb": rss_budget_mb,
        "rss_within_budget": r["peak_rss_mb"] <= rss_budget_mb,
        "memory_budget": {"bytes": r["budget_bytes"], "enforced": bool(r["budget_enforced"]),
                          "mechanism": r["budget_mechanism"], "note": r["budget_note"]} if r["budget_bytes"] else None,
        "phase_ms_per_token": {p: r[f"{p}_ms"] for p in phases},
    })
first_model = next(iter(models.values()))
summary = {
    "model": {k: first_model[k] for k in ("layers", "vocab", "hidden", "k", "expert_stride", "model_bytes")},
    "ram_bytes": mem_total,
    "machine_profile": {k: profile[k] for k in ("disk_rand_gbps", "disk_read_block_bytes", "disk_queue_depth",
                                                "ram_read_gbps", "ram_read_gbps_1t", "profile_probe")},
    "runs": rows, "failed_runs": failures, "database": db_path,
}
json.dump(summary, open(result, "w"), indent=2)
p = summary["machine_profile"]
print(f"\nmodel: {first_model['layers']} layers, {first_model['model_bytes']/1e9:.2f} GB on disk; RAM {mem_total/1e9:.1f} GB")
disk = f"{p['disk_rand_gbps']:.2f} GB/s" if p["disk_rand_gbps"] else "not measured"
print(f"disk (O_DIRECT random, {p['disk_read_block_bytes'] / 2**20:.2f} MiB reads = one expert, {p['disk_queue_depth']} in flight): {disk} ({p['profile_probe']})")
print(f"RAM read: {p['ram_read_gbps_1t']:.1f} GB/s (1 thread), {p['ram_read_gbps']:.1f} GB/s (all cores)")
print("\n| run | layers | threads | tok/s | expert MB/tok | expert GB/s (per token / during I/O) | share of disk random (per token / I/O) | RAM roofline share | peak RSS MB (budget) |")
print("|---|---|---|---|---|---|---|---|---|")
pct = lambda v: "-" if v is None else f"{100 * v:.0f}%"
for r in rows:
    io = r["expert_gbps_during_io_wait"]
    print(f"| {r['label']} | {r['layers']} | {r['compute_threads']} | {r['decode_tok_s']:.2f} | {r['expert_mb_per_token']:.1f} | "
          f"{r['expert_gbps_per_decoded_token']:.2f} / {'-' if io is None else round(io, 2)} | "
          f"{pct(r['share_of_disk_random'])} / {pct(r['io_wait_share_of_disk_random'])} | "
          f"{100*r['share_of_ram_roofline']:.0f}% of {r['ram_roofline_tok_s']:.1f} tok/s | {r['peak_rss_mb']:.0f} ({r['rss_budget_mb']:.0f}) |")
    print("|   phases ms/token | | | " + ", ".join(f"{k} {v:.1f}" for k, v in r["phase_ms_per_token"].items() if v is not None) + " | | | | | |")
    if r["memory_budget"]:
        b = r["memory_budget"]
        print(f"|   memory budget {b['bytes'] / 2**20:.0f} MiB: {'enforced (' + b['mechanism'] + ')' if b['enforced'] else 'NOT enforced: ' + (b['note'] or '')} | | | | | | | | |")
for f in failures:
    print(f"failed: {f['label']}: {f['status']} {' '.join(f['why'])}")
print(f"\nresults: {result}; lab database: {db_path}")
