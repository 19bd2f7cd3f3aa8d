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
# IO_THREADS (0: K), THREADS (compute threads; all cores), WORK (folder for the model; deleted
# afterwards unless KEEP=1),
# BUILD (build-bench-streaming), JOBS (2), RESULT (where to write the JSON summary),
# PREBUILT (a folder holding streaming_bench: skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${LAYERS:-4}
VOCAB=${VOCAB:-0}
TOKENS=${TOKENS:-12}
PROMPT=${PROMPT:-4}
IO_THREADS=${IO_THREADS:-0}
THREADS=${THREADS:-$(nproc)}
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
  for m in convert runtime models tokenizer blocks io tensor_table model ops util; do libs="$libs $BUILD/libsm_$m.a"; done
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
stride=$(python3 -c "import json; print(json.load(open('$MODEL/streammoe.json'))['experts']['expert_stride'])")
$BENCH disk --files "$MODEL"/experts/*.bin --seconds 5 --qd "$qd" --expert-bytes "$stride" | tee -a "$LOG" >&2
log "RAM read bandwidth"
$BENCH ram --mb 2048 | tee -a "$LOG" >&2

# ---- decode ------------------------------------------------------------------------------
decode() {  # label, then streaming_bench decode options
  local label=$1
  shift
  log "decode [$label]"
  $BENCH decode --model "$MODEL" --prompt "$PROMPT" --tokens "$TOKENS" --io-threads "$IO_THREADS" --threads "$THREADS" "$@" |
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
      --io-threads $IO_THREADS --threads $THREADS --io pread --evict" |
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
python3 bench/streaming/summarize.py "$LOG" "$RESULT" "$model_bytes" "$mem_total" "${cg_root:-}"
