#!/usr/bin/env bash
# Runs the session snapshot decoder's libFuzzer target (tests/fuzz/) for a while:
#   scripts/fuzz.sh [--seconds N] [--build DIR]
# Builds build-fuzz/snapshot_decode_fuzz with clang (-DDYNOGUARD_FUZZ=ON: libFuzzer, ASan,
# UBSan), seeds a fresh corpus with valid documents (plaintext and encrypted), fuzzes for N
# seconds (default 60) with a 128 MB allocation cap (a document of a few KB must never make the
# decoder allocate more) and exits non-zero on any crash, sanitizer report, broken property
# (tests/fuzz/snapshot_decode_entry.h) or oversized allocation; the input that did it is left in
# the build directory (crash-*, oom-*, leak-*). Installs clang and libFuzzer if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
build=build-fuzz
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    *) echo "usage: scripts/fuzz.sh [--seconds N] [--build DIR]" >&2; exit 2 ;;
  esac
done
# libFuzzer's runtime comes with libclang-rt-dev, not with clang itself.
if ! command -v clang++ >/dev/null || ! dpkg -s libclang-rt-dev >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang libclang-rt-dev
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DDYNOGUARD_FUZZ=ON "${launcher[@]}" >/dev/null
cmake --build "$build" -j2 --target snapshot_decode_fuzz
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
cd "$build"
SNAPSHOT_FUZZ_WRITE_SEEDS="$corpus" ./snapshot_decode_fuzz -max_total_time="$seconds" \
  -dict=../tests/fuzz/snapshot.dict -malloc_limit_mb=128 -rss_limit_mb=1024 -max_len=16384 \
  -print_final_stats=1 "$corpus"
