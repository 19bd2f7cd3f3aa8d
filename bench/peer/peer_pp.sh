#!/bin/bash
# Prompt processing, llama.cpp (llama-bench -p P -n 0) against streammoe (generate --tokens 1,
# its prefill_tok_s), warm or under a cgroup-v1 memory budget after drop_caches: the pp companion
# of ../shared/peer/peer_bench.sh (same variables, same JSON line, plus streammoe's prefill
# counters).  CASE: lb-pp | sm-pp | lb-pp-budget GIB | sm-pp-budget GIB;  P: prompt tokens (64)
set -u
: "${OUT:?}"; mkdir -p "$OUT"
P=${P:-64}
dev=${DISK:-$(lsblk -no pkname "$(df --output=source "${SM_MODEL:-$GGUF}" | tail -1)" 2>/dev/null || echo vda)}
ids=$(python3 -c "import random; random.seed(7); print(','.join(str(random.randrange(1000, 200000)) for _ in range($P)))")
disk_read() { awk -v d="$dev" '$3==d{print $6}' /proc/diskstats; }
run_cg() {
  local gib=$1; shift; local cg=/sys/fs/cgroup/memory/peer_$$
  mkdir -p $cg; echo $((gib*1024*1024*1024)) > $cg/memory.limit_in_bytes
  sync; echo 3 > /proc/sys/vm/drop_caches
  bash -c "echo \$\$ > $cg/cgroup.procs; exec $*"; local rc=$?
  oom=$(awk '/oom_kill /{print $2}' $cg/memory.oom_control); peak=$(cat $cg/memory.max_usage_in_bytes); rmdir $cg; return $rc
}
case=$1; shift
gib=0; [[ $case == *budget ]] && { gib=$1; shift; }
oom=0; peak=0; r0=$(disk_read); t0=$(date +%s.%N)
case $case in
  lb-pp)        cat "$GGUF" > /dev/null
                LD_PRELOAD=$SHIM $LB -m "$GGUF" -t 2 -p $P -n 0 -r ${R:-3} -o json > $OUT/lb.json 2>$OUT/lb.err; rc=$?;;
  lb-pp-budget) run_cg $gib env LD_PRELOAD=$SHIM $LB -m "$GGUF" -t 2 -p $P -n 0 -r 1 --no-warmup -o json > $OUT/lb.json 2>$OUT/lb.err; rc=$?;;
  sm-pp)        cat "$SM_MODEL"/experts/* "$SM_MODEL"/*.safetensors > /dev/null
                $SM_BIN generate --model "$SM_MODEL" --ids $ids --tokens 1 --threads 2 --metrics-json $OUT/sm.json "$@" > $OUT/sm.out 2>$OUT/sm.err; rc=$?;;
  sm-pp-budget) run_cg $gib $SM_BIN generate --model "$SM_MODEL" --ids $ids --tokens 1 --threads 2 --metrics-json $OUT/sm.json "$@" > $OUT/sm.out 2>$OUT/sm.err; rc=$?;;
  *) echo "unknown case $case" >&2; exit 2;;
esac
t1=$(date +%s.%N); r1=$(disk_read)
extra=$(python3 - "$case" "$OUT" <<'PY'
import json, sys
case, out = sys.argv[1], sys.argv[2]
try:
    if case.startswith('lb'):
        print('"tok_s":%s' % max(x['avg_ts'] for x in json.load(open(out + '/lb.json')) if x['n_prompt'] > 0))
    else:
        d = json.load(open(out + '/sm.json')); p = d.get('prefill', {})
        print('"tok_s":%s,"prefill_expert_GB":%.3f,"experts_loaded":%s,"distinct_experts":%s,"peak_rss_mb":%.0f' % (
            d['prefill_tok_s'], p.get('expert_bytes_read', 0) / 1e9, p.get('experts_loaded'), p.get('distinct_experts_routed'), d['peak_rss_mb']))
except Exception:
    print('"tok_s":null')
PY
)
echo "{\"case\":\"$case\",\"P\":$P,\"gib\":$gib,\"flags\":\"$*\",\"rc\":$rc,\"oom\":${oom:-0},\"cg_peak_GB\":$(echo "scale=2;${peak:-0}/1073741824"|bc),$extra,\"wall_s\":$(echo "$t1-$t0"|bc),\"read_GB\":$(echo "scale=2;($r1-$r0)*512/1000000000"|bc)}" | tee -a $OUT/peer.jsonl
