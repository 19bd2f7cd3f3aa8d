#!/usr/bin/env bash
# Builds everything and runs the whole test suite (CTest); then
#  - rebuilds the input-parsing tests, the commands, the fuzz corpora replays and the hostile-input
#    corpus under AddressSanitizer + UBSan and runs them there (SKIP_ASAN=1 skips);
#  - rebuilds the threaded tests (thread pool, expert cache and async prefetcher, io_uring, the
#    lab's subprocess executor, the engine's prefetch/overlap switches) under ThreadSanitizer and
#    runs them (SKIP_TSAN=1 skips).
# Exit status is non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=$(nproc)
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTREAMMOE_WERROR=${WERROR:-OFF} >/dev/null
cmake --build "$BUILD" -j"$JOBS"
ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS" "$@"

if [ "${SKIP_ASAN:-0}" != 1 ]; then
  ASAN_BUILD=${ASAN_BUILD:-build-asan}
  FUZZ_REPLAYS="fuzz_replay_safetensors fuzz_replay_safetensors_index fuzz_replay_config fuzz_replay_tokenizer fuzz_replay_packed_manifest fuzz_replay_npy fuzz_replay_routing_trace fuzz_replay_lab_yaml"
  ASAN_TESTS="bad_input_test safetensors_test tensor_store_test config_test tokenizer_errors_test tokenizer_fixture_test packed_cli_test packed_format_test npy_parse_test packed_manifest_ranges_test $FUZZ_REPLAYS hostile_test"
  cmake -S . -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Debug -DSTREAMMOE_SANITIZE=ON -DSTREAMMOE_BENCHMARKS=OFF >/dev/null
  targets=""
  for t in streammoe streammoe-lab $ASAN_TESTS; do
    if cmake --build "$ASAN_BUILD" --target help | grep -q "^\.\.\. $t\$"; then targets="$targets --target $t"; fi
  done
  cmake --build "$ASAN_BUILD" -j"$JOBS" $targets
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir "$ASAN_BUILD" --output-on-failure -j"$JOBS" -R 'BadInput|SafetensorsTest|TensorStoreTest|Config\.|Tokenizer|FixtureTest|PackedCli|ExpertLayout|Manifest|PackedFolder|NpyParse|FuzzReplay|Hostile'
fi

if [ "${SKIP_TSAN:-0}" != 1 ]; then
  # Kept out: the slowest, packed_quality_test (70 s under TSan), whose threads (the matvec pool,
  # the pack workers) the matvec tests and the switch tests' pack already cover.
  TSAN_BUILD=${TSAN_BUILD:-build-tsan}
  TSAN_TESTS="thread_pool_test arrival_pool_test expert_cache_test packed_expert_source_test uring_reader_test executor_test quant_matvec_test dense_matvec_test linear_test lab_cli_test engine_e2e_test switches_lossless_test"
  cmake -S . -B "$TSAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTREAMMOE_TSAN=ON -DSTREAMMOE_BENCHMARKS=OFF >/dev/null
  targets=""
  for t in streammoe streammoe-lab $TSAN_TESTS; do targets="$targets --target $t"; done
  cmake --build "$TSAN_BUILD" -j"$JOBS" $targets
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:exitcode=66"
  ctest --test-dir "$TSAN_BUILD" --output-on-failure -j"$JOBS" \
    -R '^(ThreadPool|ArrivalPool|PackedSource|LinearBatch|LruExpertCache|PredictionScore|UringReader|UringReaderTest|SubprocessExecutor|MemoryCgroup|QuantMatvec|DenseMatvec|LabCliTest|EngineEndToEnd)\.'
  # One process for the engine switches: the suite packs its model once (ctest would per test).
  # A race in the engine makes its exit code 66, which the test reports with the race.
  "$TSAN_BUILD"/bin/switches_lossless_test
  unset TSAN_OPTIONS
fi
