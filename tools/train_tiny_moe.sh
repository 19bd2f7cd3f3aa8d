#!/usr/bin/env bash
# Runs train_tiny_moe.py (the copy next to this script) on the GPU machine and packs what it wrote
# for the trip back: $OUT/log.txt and $OUT/result.tgz.part-* (15 MB pieces; `cat result.tgz.part-* |
# tar xz` in the repository root puts models/NAME and tests/fixtures/reference/NAME in place, NAME
# being --name, tiny-qwen35moe by default).
# Usage: tools/train_tiny_moe.sh [train_tiny_moe.py arguments]    (OUT must be set; paths in the
# arguments are relative to the folder above this script's, normally the repository root)
set -uo pipefail
script_dir=$(cd "$(dirname "$0")" && pwd)
cd "$script_dir/.."
result=/tmp/tiny-moe-result
rm -rf "$result" && mkdir -p "$result"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader | tee "$OUT/log.txt"
# The script guards its own deadline; this outer limit only catches a hang, leaving time to pack.
PYTHONUNBUFFERED=1 timeout 570 python3 "$script_dir/train_tiny_moe.py" --out "$result" "$@" 2>&1 | tee -a "$OUT/log.txt"
status=${PIPESTATUS[0]}
tar -C "$result" -czf /tmp/tiny-moe-result.tgz . && split -b 15m /tmp/tiny-moe-result.tgz "$OUT/result.tgz.part-"
ls -l "$OUT"
exit "$status"
