#!/usr/bin/env bash
# Streaming benchmark: writes a synth model with the real Qwen3.5-397B-A17B expert shapes
# (hidden 4096, 512 experts of 1024, top-10, 4-bit; fewer layers) with `streammoe synth`, runs
# its decodes through the lab (`streammoe-lab run`: every decode is `streammoe generate
# --metrics-json`, the lab evicts or warms the page cache and applies the memory budget), and
# reports, from the lab's database:
#   - the machine profile the lab measured: the disk's O_DIRECT random-read rate at one expert
#     record with K reads in flight, and the RAM read rate (1 thread and all cores)
#   - decode tok/s with cold experts (O_DIRECT; pread + DONTNEED; pread under a cgroup memory
#     budget when one can be enforced) and warm (page cache holding the experts, when they fit),
#     expert bytes/token, expert-read GB/s achieved (per decoded token, and during I/O wait),
#     the shares of the disk's random-read rate and of the RAM roofline, and peak RSS against
#     resident weights + I/O buffers + cache (none) + 10%.
# Settings (environment): LIKE (config whose shapes to copy; the 397B one), LAYERS (4), VOCAB
# (0: the config's), TOKENS (12), PROMPT (4 prompt tokens), REPEATS (1), IO_THREADS (0: K),
# THREADS (compute threads; all cores), WORK (folder for the models and the database; the
# models are deleted afterwards unless KEEP=1), BUILD (build-bench-streaming), JOBS (2), RESULT
# (where to write the JSON summary), PREBUILT (a folder holding streammoe and streammoe-lab:
# skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIKE=${LIKE:-tests/fixtures/configs/qwen3_5_397b_a17b.json}
LAYERS=${LAYERS:-4}
VOCAB=${VOCAB:-0}
TOKENS=${TOKENS:-12}
PROMPT=${PROMPT:-4}
REPEATS=${REPEATS:-1}
IO_THREADS=${IO_THREADS:-0}
THREADS=${THREADS:-$(nproc)}
WORK=${WORK:-$PWD/bench-streaming-work}
BUILD=${BUILD:-build-bench-streaming}
JOBS=${JOBS:-2}
RESULT=${RESULT:-$WORK/bench-streaming.json}
MODEL=$WORK/model
DB=$WORK/bench.db

log() { echo "[bench-streaming] $*" >&2; }

# ---- build -------------------------------------------------------------------------------
if [ -n "${PREBUILT:-}" ]; then
  BIN=$PREBUILT
else
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTREAMMOE_TESTS=OFF -DSTREAMMOE_BENCHMARKS=OFF >/dev/null
  cmake --build "$BUILD" --target streammoe streammoe-lab -j"$JOBS" >/dev/null
  BIN=$BUILD/bin
fi
ENGINE=$BIN/streammoe
LAB=$BIN/streammoe-lab

# ---- model ---------------------------------------------------------------------------------
mkdir -p "$WORK"
rm -f "$DB" "$DB"-wal "$DB"-shm "$WORK/models.jsonl"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK/model" "$WORK/model-warm"; fi; }
trap cleanup EXIT

synth() {  # folder, layers
  rm -rf "$1"
  local args="--like $LIKE --layers $2 --out $1"
  if [ "$VOCAB" != 0 ]; then args="$args --vocab $VOCAB"; fi
  log "synth: $args"
  "$ENGINE" synth $args >&2
  # What the summary needs after the folder is gone: sizes and shapes.
  python3 - "$1" >>"$WORK/models.jsonl" <<'PY'
import json, os, sys
folder = sys.argv[1]
m = json.load(open(os.path.join(folder, "streammoe.json")))
c = m["config"].get("text_config", m["config"])
experts = sum(l["bytes"] for l in m["experts"]["layers"])
resident = os.path.getsize(os.path.join(folder, m["resident"]["file"]))
print(json.dumps({"folder": folder, "layers": c["num_hidden_layers"], "vocab": c["vocab_size"],
                  "hidden": c["hidden_size"], "k": c["num_experts_per_tok"],
                  "expert_stride": m["experts"]["expert_stride"], "expert_file_bytes": experts,
                  "resident_bytes": resident,
                  "model_bytes": sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)}))
PY
}
synth "$MODEL" "$LAYERS"
read -r vocab k resident model_bytes expert_bytes < <(python3 -c "
import json; m = [json.loads(l) for l in open('$WORK/models.jsonl')][-1]
print(m['vocab'], m['k'], m['resident_bytes'], m['model_bytes'], m['expert_file_bytes'])")
mem_total=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) * 1024))
mem_avail=$(($(awk '/MemAvailable/ {print $2}' /proc/meminfo) * 1024))
log "model $((model_bytes / 1000000)) MB; RAM total $((mem_total / 1000000)) MB, available $((mem_avail / 1000000)) MB"
ids=$(python3 -c "print(','.join(str((i * 7919 + 17) % $vocab) for i in range($PROMPT)))")

# ---- decode, through the lab --------------------------------------------------------------
experiment() {  # name, model, cache, memory budget ("" = none), then variant lines
  local name=$1 model=$2 cache=$3 budget=$4
  shift 4
  {
    echo "name: $name"
    echo "hypothesis: streaming decode of the 397B expert shapes, $cache experts"
    echo "track: bench-streaming"
    echo "model: $model"
    echo "workload: {ids: [$ids], tokens: $TOKENS}"
    echo "repeats: $REPEATS"
    echo "cache: $cache"
    echo "timeout_s: 3600"
    [ -n "$budget" ] && echo "memory_budget: $budget"
    echo "baseline: $(echo "$1" | sed 's/^ *- {name: \([^,]*\),.*/\1/')"
    echo "variants:"
    for v in "$@"; do echo "$v"; done
  } >"$WORK/$name.yaml"
  log "lab: $name"
  "$LAB" run "$WORK/$name.yaml" --db "$DB" --engine "$ENGINE" --root "$ROOT" >&2
}
common="io-threads: $IO_THREADS, threads: $THREADS"
experiment cold "$MODEL" cold "" \
  "  - {name: cold-direct, switches: {io: direct, $common}}" \
  "  - {name: cold-dontneed, switches: {io: dontneed, $common}}"
# A memory budget caps the page cache the engine may fill: resident weights, I/O buffers and
# 512 MiB of slack, so experts cannot stay cached between tokens. The lab records whether the
# budget was enforced (cgroup v2 or v1) and why not.
experiment cold-budget "$MODEL" cold "$((resident + 768 * 1024 * 1024))" \
  "  - {name: cold-pread-budget, switches: {io: pread, $common}}"

# Warm: the experts in the page cache. When the model does not fit in 70% of available RAM, a
# second synth model with the same shapes and as many layers as fit is measured instead.
warm_model=$MODEL
if [ "$model_bytes" -gt $((mem_avail * 7 / 10)) ]; then
  per_layer=$((expert_bytes / LAYERS))
  warm_layers=$(((mem_avail * 7 / 10 - resident) / per_layer))
  if [ "$warm_layers" -lt 1 ]; then warm_layers=1; fi
  log "model does not fit in 70% of available RAM: warm run on a $warm_layers-layer synth of the same shapes"
  rm -rf "$MODEL"
  warm_model=$WORK/model-warm
  synth "$warm_model" "$warm_layers"
fi
experiment warm "$warm_model" warm "" "  - {name: warm-pread, switches: {io: pread, $common}}"

# ---- summary -------------------------------------------------------------------------------
python3 bench/streaming/summarize.py "$DB" "$WORK/models.jsonl" "$RESULT" "$mem_total"
