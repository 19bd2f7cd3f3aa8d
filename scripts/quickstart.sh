#!/usr/bin/env bash
# The main job: install dependencies, build, run the quickstart experiment on the bundled model,
# and print its results table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
build/bin/streammoe-lab run experiments/quickstart.yaml --db results/results.db
build/bin/streammoe-lab report --db results/results.db --out results/report
cat results/report/results.md
