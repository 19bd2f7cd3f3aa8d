#!/bin/bash
# The peer sitting of issue 10: llama.cpp and streammoe on the Qwen3.5-35B-A3B shape, alternated
# case by case (llama.cpp, streammoe, llama.cpp, streammoe) in one sitting, through
# ../shared/peer/peer_bench.sh (decode) and bench/peer/peer_pp.sh (prompt processing). Needs root
# (drop_caches, cgroup v1) and the machine to itself (about 25 minutes).
#
#   PEER=/work/peer SHARED=../shared [CASES="b8 b4"] bench/peer/sitting.sh
#
# $PEER holds what ../shared/peer/README.md's recipe makes, outside the repository:
#   llama-build/bin/llama-bench, libnorepack.so, q35_20_Q4_0.gguf (20 layers), q35_Q4_0.gguf (40),
#   q35_20_r4 and q35_40_r4: streammoe synth --like $SHARED/peer/qwen3_5_35b_a3b.json --bits 4
#   --resident-bits 4 [--layers 20] (4-bit experts and 4-bit resident weights, like Q4_0),
#   streammoe_bin: a copy of build/bin/streammoe (so a rebuild cannot change it mid-sitting).
# Results: $PEER/sitting/peer.jsonl (one line per case) and sitting/json/N-CASE.json (streammoe's
# --metrics-json of each run: phases, prefill counters, peak RSS).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)  # before the cd below: $0 may be relative
PEER=${PEER:?} SHARED=${SHARED:-$HERE/../../../shared}
cd "$PEER"
export SM_BIN=$PEER/streammoe_bin LB=$PEER/llama-build/bin/llama-bench SHIM=$PEER/libnorepack.so DISK=${DISK:-vda}
export OUT=${OUT:-$PEER/sitting}
mkdir -p "$OUT/json"
n=0
save() { n=$((n+1)); [ -f "$OUT/sm.json" ] && cp "$OUT/sm.json" "$OUT/json/$n-$1.json"; rm -f "$OUT/sm.json"; }
PB=$SHARED/peer/peer_bench.sh; PP=$HERE/peer_pp.sh
W="--matvec int8 --io mmap"                                          # warm: weights in the page cache
B=${B:-"--matvec int8 --predictor early-routing --prefetch willneed --predict-k 6 --readahead off"}  # budget decode
Q="--matvec int8 --prefill-chunk 256 --io direct --expert-order arrival --fetch-batch 32 --io-threads 16"
CASES=${CASES:-warm pp64 b8 b4 pp256}  # a subset re-runs only those cases
has() { [[ " $CASES " == *" $1 "* ]]; }
date
export GGUF=$PEER/q35_20_Q4_0.gguf SM_MODEL=$PEER/q35_20_r4   # warm, 20 layers
has warm && for i in 1 2; do $PB lb-warm; save lb-warm; $PB sm-warm $W; save sm-warm; done
has pp64 && for i in 1 2; do P=64 $PP lb-pp; save lb-pp64; P=64 $PP sm-pp $W --prefill-chunk 64; save sm-pp64; done
export GGUF=$PEER/q35_Q4_0.gguf SM_MODEL=$PEER/q35_40_r4      # 40 layers, cold, memory budget
has b8 && for i in 1 2; do $PB lb-budget 8; save lb-b8; $PB sm-budget 8 $B; save sm-b8; done
has b4 && for i in 1 2; do $PB lb-budget 4; save lb-b4; $PB sm-budget 4 $B; save sm-b4; done
has pp256 && for i in 1 2; do P=256 $PP lb-pp-budget 8; save lb-pp256-b8; P=256 $PP sm-pp-budget 8 $Q; save sm-pp256-b8; done
date
