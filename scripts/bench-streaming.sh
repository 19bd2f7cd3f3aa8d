#!/usr/bin/env bash
# Streaming benchmark: writes a synth model with the real Qwen3.5-397B-A17B expert shapes
# (hidden 4096, 512 experts of 1024, top-10, 4-bit; fewer layers) and reports, from one run:
#   - the disk's own sequential and 4 MiB random read GB/s (O_DIRECT, on the model's expert files)
#   - the machine's memory read GB/s (1 thread and all threads)
#   - decode tok/s with cold experts (O_DIRECT; pread + DONTNEED; pread inside a cgroup v2
#     memory.max when available) and warm (page cache holding the experts, when they fit),
#     expert bytes/token, expert-read GB/s achieved (per decoded token, and during I/O wait),
#     the shares of the disk's random-read rate and of the RAM roofline, and peak RSS against
#     resident weights + I/O buffers + cache (none) + 10%.
# Settings (environment): LAYERS (4), VOCAB (0: the real 248320), TOKENS (12), PROMPT (4),
# IO_THREADS (0: K), WORK (folder for the model; deleted afterwards unless KEEP=1),
# BUILD (build-bench-streaming), JOBS (2), RESULT (where to write the JSON summary),
# PREBUILT (a folder holding streaming_bench: skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${LAYERS:-4}
VOCAB=${VOCAB:-0}
TOKENS=${TOKENS:-12}
PROMPT=${PROMPT:-4}
IO_THREADS=${IO_THREADS:-0}
WORK=${WORK:-$PWD/bench-streaming-work}
BUILD=${BUILD:-build-bench-streaming}
JOBS=${JOBS:-2}
RESULT=${RESULT:-$WORK/bench-streaming.json}
MODEL=$WORK/model
LOG=$WORK/runs.jsonl

log() { echo "[bench-streaming] $*" >&2; }

# ---- build -------------------------------------------------------------------------------
# PREBUILT=DIR: use DIR/streaming_bench (built elsewhere, e.g. for a machine without the
# build dependencies) instead of building here.
if [ -n "${PREBUILT:-}" ]; then
  BENCH=$PREBUILT/streaming_bench
else
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTREAMMOE_TESTS=OFF -DSTREAMMOE_BENCHMARKS=OFF >/dev/null
  cmake --build "$BUILD" --target streammoe -j"$JOBS" >/dev/null
  libs=""
  for m in runtime models tokenizer blocks io model ops util; do libs="$libs $BUILD/libsm_$m.a"; done
  syslibs="-lyaml-cpp -llz4 -lfmt -pthread"
  if pkg-config --exists liburing 2>/dev/null; then syslibs="$syslibs -luring"; fi
  g++ -O3 -DNDEBUG -std=c++20 -mavx2 -mfma -mf16c -DSTREAMMOE_HAVE_AVX2=1 -I. -I"$BUILD/generated" \
    bench/streaming/streaming_bench.cpp -o "$BUILD/streaming_bench" -Wl,--start-group $libs -Wl,--end-group $syslibs
  BENCH=$BUILD/streaming_bench
fi

# ---- model ---------------------------------------------------------------------------------
mkdir -p "$WORK"
: > "$LOG"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then rm -rf "$MODEL"; fi; }
trap cleanup EXIT
rm -rf "$MODEL"
synth_args="--like tests/fixtures/configs/qwen3_5_397b_a17b.json --layers $LAYERS --out $MODEL"
if [ "$VOCAB" != 0 ]; then synth_args="$synth_args --vocab $VOCAB"; fi
log "synth: $synth_args"
$BENCH synth $synth_args | tee -a "$WORK/synth.txt" >&2
model_bytes=$(du -sb "$MODEL" | cut -f1)
mem_total=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) * 1024))
mem_avail=$(($(awk '/MemAvailable/ {print $2}' /proc/meminfo) * 1024))
log "model $((model_bytes / 1000000)) MB; RAM total $((mem_total / 1000000)) MB, available $((mem_avail / 1000000)) MB"

# ---- disk and RAM --------------------------------------------------------------------------
K=10
qd=$([ "$IO_THREADS" = 0 ] && echo $K || echo "$IO_THREADS")
log "disk: O_DIRECT sequential and 4 MiB random reads, $qd threads"
$BENCH disk --files "$MODEL"/experts/*.bin --seconds 5 --qd "$qd" | tee -a "$LOG" >&2
log "RAM read bandwidth"
$BENCH ram --mb 2048 | tee -a "$LOG" >&2

# ---- decode ------------------------------------------------------------------------------
decode() {  # label, then streaming_bench decode options
  local label=$1
  shift
  log "decode [$label]"
  $BENCH decode --model "$MODEL" --prompt "$PROMPT" --tokens "$TOKENS" --io-threads "$IO_THREADS" "$@" |
    python3 -c "import json,sys; j=json.loads(sys.stdin.read()); j['label']='$label'; print(json.dumps(j))" |
    tee -a "$LOG" >&2
}

decode cold-direct --io direct --evict
decode cold-dontneed --io dontneed --evict

# A cgroup v2 memory.max around the engine caps the page cache it may fill: resident weights,
# I/O buffers and 512 MiB of slack, so experts cannot stay cached between tokens.
cg_root=""
for root in /sys/fs/cgroup /sys/fs/cgroup/unified; do
  if [ -f "$root/cgroup.controllers" ] && grep -qw memory "$root/cgroup.controllers" && [ -w "$root" ]; then
    # Children get the memory controller only when the parent delegates it.
    grep -qw memory "$root/cgroup.subtree_control" || echo +memory > "$root/cgroup.subtree_control" 2>/dev/null || true
    cg_root=$root
    break
  fi
done
if [ -n "$cg_root" ]; then
  cg="$cg_root/streammoe-bench-$$"
  resident=$(stat -c %s "$MODEL/model.safetensors")
  limit=$((resident + 256 * 1024 * 1024 + 512 * 1024 * 1024))
  if mkdir "$cg" 2>/dev/null && echo "$limit" > "$cg/memory.max" 2>/dev/null; then
    log "cgroup v2: $cg memory.max $((limit / 1000000)) MB"
    sh -c "echo \$\$ > $cg/cgroup.procs && exec $BENCH decode --model $MODEL --prompt $PROMPT --tokens $TOKENS \
      --io-threads $IO_THREADS --io pread --evict" |
      python3 -c "import json,sys; j=json.loads(sys.stdin.read()); j['label']='cold-pread-cgroup'; j['cgroup_memory_max']=$limit; print(json.dumps(j))" |
      tee -a "$LOG" >&2 || log "cgroup run failed"
    rmdir "$cg" 2>/dev/null || true
  else
    log "cgroup v2 memory controller present but not usable here; page cache evicted with posix_fadvise(DONTNEED)"
  fi
else
  log "no cgroup v2 memory controller: page cache evicted with posix_fadvise(DONTNEED) before each run (and after each read in dontneed mode)"
fi

# Warm: the experts in the page cache. When the model does not fit in 70% of available RAM, a
# second synth model with the same shapes and as many layers as fit is measured instead.
expert_bytes=$(du -sb "$MODEL/experts" | cut -f1)
resident_bytes=$((model_bytes - expert_bytes))
warm_model=$MODEL
if [ "$model_bytes" -gt $((mem_avail * 7 / 10)) ]; then
  per_layer=$((expert_bytes / LAYERS))
  warm_layers=$(((mem_avail * 7 / 10 - resident_bytes) / per_layer))
  if [ "$warm_layers" -lt 1 ]; then warm_layers=1; fi
  log "model does not fit in 70% of available RAM: warm run on a $warm_layers-layer synth of the same shapes"
  rm -rf "$MODEL"
  warm_model=$WORK/model-warm
  MODEL=$warm_model
  synth_args="--like tests/fixtures/configs/qwen3_5_397b_a17b.json --layers $warm_layers --out $MODEL"
  if [ "$VOCAB" != 0 ]; then synth_args="$synth_args --vocab $VOCAB"; fi
  $BENCH synth $synth_args >&2
fi
decode warm-pread --io pread --warm

# ---- summary -------------------------------------------------------------------------------
python3 - "$LOG" "$RESULT" "$model_bytes" "$mem_total" "${cg_root:-}" <<'PY'
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
    row = {
        "label": d["label"], "io": d["io"], "decode_tok_s": tok_s, "ttft_ms": d["ttft_ms"],
        "expert_mb_per_token": bpt / 1e6, "experts_per_token": d["experts_loaded_per_token"],
        "expert_gbps_per_decoded_token": bpt * tok_s / 1e9,
        "expert_gbps_during_io_wait": (bpt / (io_ms / 1e3) / 1e9) if io_ms > 0 else None,
        "share_of_disk_rand4m": bpt * tok_s / 1e9 / disk["rand4m_gbps"],
        "io_wait_share_of_disk_rand4m": ((bpt / (io_ms / 1e3) / 1e9) / disk["rand4m_gbps"]) if io_ms > 0 else None,
        "bytes_touched_per_token_mb": touched / 1e6,
        "ram_roofline_tok_s_1thread": ram["read_gbps_1thread"] * 1e9 / touched,
        "ram_roofline_tok_s_all": ram["read_gbps_all"] * 1e9 / touched,
        "share_of_ram_roofline_1thread": tok_s / (ram["read_gbps_1thread"] * 1e9 / touched),
        "share_of_ram_roofline_all": tok_s / (ram["read_gbps_all"] * 1e9 / touched),
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
print(f"disk (O_DIRECT, {disk['qd']} threads): sequential {disk['seq_gbps']:.2f} GB/s, 4 MiB random {disk['rand4m_gbps']:.2f} GB/s (QD1 {disk['rand4m_qd1_gbps']:.2f})")
print(f"RAM read: {ram['read_gbps_1thread']:.1f} GB/s (1 thread), {ram['read_gbps_all']:.1f} GB/s ({ram['threads']} threads)")
print(f"\n| run | tok/s | expert MB/tok | expert GB/s (per token / during I/O) | share of disk 4M rand (per token / I/O) | RAM roofline share (1T / all) | peak RSS MB (budget) |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    io = r["expert_gbps_during_io_wait"]
    ios = r["io_wait_share_of_disk_rand4m"]
    print(f"| {r['label']} | {r['decode_tok_s']:.2f} | {r['expert_mb_per_token']:.1f} | {r['expert_gbps_per_decoded_token']:.2f} / {io if io is None else round(io, 2)} | "
          f"{100*r['share_of_disk_rand4m']:.0f}% / {'-' if ios is None else f'{100*ios:.0f}%'} | {100*r['share_of_ram_roofline_1thread']:.0f}% / {100*r['share_of_ram_roofline_all']:.0f}% | "
          f"{r['peak_rss_mb']:.0f} ({r['rss_budget_mb']:.0f}) |")
    print(f"|   phases ms/token | " + ", ".join(f"{k} {v:.1f}" for k, v in r["phase_ms_per_token"].items()) + " | | | | | |")
print(f"\nresults: {result}")
PY
