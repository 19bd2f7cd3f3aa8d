#!/usr/bin/env bash
# Runs tools/train_tiny_moe.py on the GPU machine and packs what it wrote for the trip back:
# $OUT/log.txt and $OUT/result.tgz.part-* (15 MB pieces; `cat result.tgz.part-* | tar xz` in the
# repository root puts models/tiny-qwen35moe and tests/fixtures/reference/tiny-qwen35moe in place).
# Usage: tools/train_tiny_moe.sh [train_tiny_moe.py arguments]    (OUT must be set)
set -uo pipefail
cd "$(dirname "$0")/.."
result=/tmp/tiny-moe-result
rm -rf "$result" && mkdir -p "$result"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader | tee "$OUT/log.txt"
# The script guards its own deadline; this outer limit only catches a hang, leaving time to pack.
PYTHONUNBUFFERED=1 timeout 570 python3 tools/train_tiny_moe.py --out "$result" "$@" 2>&1 | tee -a "$OUT/log.txt"
status=${PIPESTATUS[0]}
tar -C "$result" -czf /tmp/tiny-moe-result.tgz . && split -b 15m /tmp/tiny-moe-result.tgz "$OUT/result.tgz.part-"
ls -l "$OUT"
exit "$status"
