#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages (Debian 12). clang-14 and its
# runtime libraries build the libFuzzer targets (tests/fuzz/README.md); everything else uses gcc.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config git ca-certificates \
  libyaml-cpp-dev libsqlite3-dev sqlite3 libfmt-dev nlohmann-json3-dev libcli11-dev \
  liblz4-dev liburing-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  clang-14 libclang-rt-14-dev \
  chromium >/dev/null
