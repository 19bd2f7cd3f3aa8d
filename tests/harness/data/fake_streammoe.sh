#!/bin/sh
# A stand-in for build/bin/streammoe that follows the engine contract with canned numbers, for
# the lab's subprocess tests. Behaviour is steered by the switches it receives and by env vars:
#   FAKE_ENGINE_CRASH_IF=k=2        segfault when --k 2 is given (any name=value)
#   FAKE_ENGINE_HANG_IF=threads=4   sleep forever (the lab's timeout must end it)
#   FAKE_ENGINE_FAIL_IF=io=direct   exit 1 with a one-line error
#   FAKE_ENGINE_HOG_IF=k=8          hold 200 MB in memory (a memory budget gets it OOM-killed)
#   FAKE_ENGINE_SLEEP=0.2           seconds every run takes
#   FAKE_ENGINE_COUNTER=FILE        count generate runs in FILE
#   FAKE_ENGINE_KILL_PARENT_AT=N    SIGKILL the parent (the lab) during generate run N
# Speed: 100 tok/s, 130 with --io mmap, 90 with --dequant naive, +-1% by run count.
set -u
here=$(dirname "$0")
command=${1:-}
[ $# -gt 0 ] && shift
if [ "$command" = options ] && [ "${1:-}" = --check-file ]; then  # every set is valid to the fake
  sed 's/.*/ok/' "$2"
  exit 0
fi

switches=""
metrics=""
dump=""
json=0
prompt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --metrics-json) metrics=$2; shift 2 ;;
    --dump-logits) dump=$2; shift 2 ;;
    --json) json=1; shift ;;
    --prompt) prompt=$2; shift 2 ;;
    --prompt=*) prompt=${1#--prompt=}; shift ;;
    --model|--ids|--tokens|--text-file|--max-tokens|--ref-logits) shift 2 ;;
    --*) switches="$switches ${1#--}=$2"; shift 2 ;;
    *) echo "fake_streammoe: unexpected argument $1" >&2; exit 1 ;;
  esac
done
has() { case " $switches " in *" $1 "*) return 0 ;; esac; return 1; }

case "$command" in
  options)
    cat "$here/options.json"
    exit 0 ;;
  generate|eval) ;;
  *) echo "fake_streammoe: unknown command '$command'" >&2; exit 1 ;;
esac

if [ -n "${FAKE_ENGINE_FAIL_IF:-}" ] && has "$FAKE_ENGINE_FAIL_IF"; then
  echo "fake_streammoe: --${FAKE_ENGINE_FAIL_IF%%=*}: this value is not supported" >&2
  exit 1
fi
if [ -n "${FAKE_ENGINE_CRASH_IF:-}" ] && has "$FAKE_ENGINE_CRASH_IF"; then
  echo "loading experts" >&2
  echo "fake_streammoe: segmentation fault while reading expert 7" >&2
  kill -SEGV $$
fi
if [ -n "${FAKE_ENGINE_HOG_IF:-}" ] && has "$FAKE_ENGINE_HOG_IF"; then
  # tail -c keeps the last 200 MB of its input in memory.
  head -c 300000000 /dev/zero | tail -c 200000000 > /dev/null
  exit $?
fi
if [ -n "${FAKE_ENGINE_HANG_IF:-}" ] && has "$FAKE_ENGINE_HANG_IF"; then
  exec sleep 100000
fi
[ -n "${FAKE_ENGINE_SLEEP:-}" ] && sleep "$FAKE_ENGINE_SLEEP"

if [ "$command" = eval ]; then
  if [ -n "$dump" ]; then
    printf 'fake logits\n' > "$dump"
  fi
  if [ $json = 1 ]; then
    kld=0.001
    has dequant=naive && kld=0.2
    echo "{\"tokens\":64,\"ppl\":10.1,\"nll_mean\":2.31,\"kld_mean\":$kld,\"kld_p50\":$kld,\"kld_p90\":$kld,\"kld_p95\":$kld,\"kld_p99\":$kld,\"kld_max\":$kld,\"top1_agree\":0.99,\"ref_ppl\":10.0}"
  fi
  exit 0
fi

count=0
if [ -n "${FAKE_ENGINE_COUNTER:-}" ]; then
  count=$(cat "$FAKE_ENGINE_COUNTER" 2>/dev/null || echo 0)
  count=$((count + 1))
  echo $count > "$FAKE_ENGINE_COUNTER"
fi
if [ -n "${FAKE_ENGINE_KILL_PARENT_AT:-}" ] && [ "$count" = "$FAKE_ENGINE_KILL_PARENT_AT" ]; then
  kill -KILL $PPID
  exec sleep 100000  # the lab is gone; PR_SET_PDEATHSIG ends this process
fi

tok_s=100
has io=mmap && tok_s=130
has dequant=naive && tok_s=90
case $((count % 3)) in
  0) tok_s="$tok_s.0" ;;
  1) tok_s="$tok_s.9" ;;
  2) tok_s="$((tok_s - 1)).1" ;;
esac
# JSON-validity prompts: a prompt with "bad" in it gets a continuation that breaks the value.
output='1}'
case "$prompt" in *bad*) output='1,' ;; esac
if [ -n "$metrics" ]; then
  cat > "$metrics" <<JSON
{"schema": 1, "prompt_tokens": 5, "generated_tokens": 8, "ttft_ms": 12.5,
 "decode_tok_s": $tok_s, "prefill_tok_s": 400.0, "decode_ms": [10.0, 10.1, 9.9, 10.0, 10.0, 10.2, 9.8],
 "phase_ms_per_token": {"attention": 1.0, "linear_attention": 2.0, "routing": 0.5,
   "expert_io_wait": 3.0, "expert_compute": 3.0, "lm_head": 0.4, "other": 0.1},
 "expert_bytes_read_per_token": 1048576, "experts_loaded_per_token": 16, "peak_rss_mb": 64.0,
 "options": {}, "build": {"git_commit": "fake", "build_type": "Release", "flags": "-O2"},
 "model": {"path": "fake", "model_type": "qwen3_5_moe_text", "params_total": 2000000, "params_active": 500000},
 "output_ids": [1, 2, 3], "output_text": $(printf '%s' "$output" | sed 's/"/\\"/g; s/^/"/; s/$/"/')}
JSON
fi
echo "fake output"
exit 0
