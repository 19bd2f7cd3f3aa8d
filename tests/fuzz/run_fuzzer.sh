#!/usr/bin/env bash
# Runs one libFuzzer target for a total fuzzing time, in chunks, at the lowest CPU priority, so a
# long run shares the machine: while the file $FUZZ_PAUSE_FILE exists no chunk starts (benchmarks
# run then), and only the chunks' own time counts towards the total.
#
# usage: tests/fuzz/run_fuzzer.sh TARGET TOTAL_SECONDS [BUILD_DIR]
#   BUILD_DIR (default build-fuzz) holds bin/fuzz_TARGET (cmake -DSTREAMMOE_FUZZ=ON, clang).
#   Working corpus: BUILD_DIR/fuzz-corpus/TARGET (starts from tests/fixtures/fuzz/TARGET);
#   crashes, OOMs and timeouts: BUILD_DIR/fuzz-artifacts/TARGET/; one line per chunk and a total
#   in BUILD_DIR/fuzz-log/TARGET.tsv (seconds, executions, cov, ft, corpus, crashes, ooms, timeouts).
# Fork mode keeps fuzzing after a crash, so an open finding does not stop the run.
# Afterwards, minimise into the committed corpus (tests/fuzz/README.md):
#   BUILD_DIR/bin/fuzz_TARGET -merge=1 NEW_DIR tests/fixtures/fuzz/TARGET BUILD_DIR/fuzz-corpus/TARGET
set -euo pipefail
target=$1 total=$2 build=${3:-build-fuzz}
chunk=${FUZZ_CHUNK_S:-60}
pause=${FUZZ_PAUSE_FILE:-/work/dev/QUIET}
cd "$(dirname "$0")/../.."
bin=$build/bin/fuzz_$target
corpus=$build/fuzz-corpus/$target
artifacts=$build/fuzz-artifacts/$target
log=$build/fuzz-log/$target.tsv
[ -x "$bin" ] || { echo "run_fuzzer.sh: $bin is not built (tests/fuzz/README.md: Fuzzing)" >&2; exit 1; }
mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
[ -n "$(ls -A "$corpus")" ] || cp tests/fixtures/fuzz/$target/* "$corpus"/
printf 'chunk\tseconds\texecs\tcov\tft\tcorpus\tcrashes\tooms\ttimeouts\n' >"$log"
done_s=0 execs=0 crashes=0 ooms=0 timeouts=0 n=0 cov=0 ft=0 corp=0
while [ "$done_s" -lt "$total" ]; do
  while [ -e "$pause" ]; do sleep 10; done
  n=$((n + 1))
  this=$(( total - done_s < chunk ? total - done_s : chunk ))
  out=$build/fuzz-log/$target.chunk.txt
  start=$(date +%s)
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} nice -n 19 "$bin" "$corpus" -fork=1 -ignore_crashes=1 \
    -ignore_ooms=1 -ignore_timeouts=1 -max_total_time="$this" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -artifact_prefix="$artifacts/" >"$out" 2>&1 || true
  secs=$(( $(date +%s) - start ))
  done_s=$((done_s + secs))
  # Fork mode's status lines: "#EXECS: cov: C ft: F corp: N exec/s: E oom/timeout/crash: O/T/X time: S"
  last=$(grep -E '^#[0-9]+: cov:' "$out" | tail -1 || true)
  if [ -n "$last" ]; then
    e=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
    cov=$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$last")
    ft=$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$last")
    corp=$(sed -E 's/.* corp: ([0-9]+).*/\1/' <<<"$last")
    read -r o t x < <(sed -E 's#.*oom/timeout/crash: ([0-9]+)/([0-9]+)/([0-9]+).*#\1 \2 \3#' <<<"$last")
    execs=$((execs + e)) ooms=$((ooms + o)) timeouts=$((timeouts + t)) crashes=$((crashes + x))
    printf '%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$n" "$secs" "$e" "$cov" "$ft" "$corp" "$x" "$o" "$t" >>"$log"
  else
    printf '%d\t%d\tno status line (see %s)\n' "$n" "$secs" "$out" >>"$log"
  fi
done
printf 'total\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$done_s" "$execs" "$cov" "$ft" "$corp" "$crashes" "$ooms" "$timeouts" >>"$log"
tail -1 "$log"
