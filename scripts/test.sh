#!/usr/bin/env bash
# Sets up (scripts/setup.sh --tests --werror) and runs the whole test suite with ctest.
# Usage: scripts/test.sh [--sanitize | --tsan]
#   --sanitize: the ASan + UBSan build in build-asan/; --tsan: ThreadSanitizer in build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests --werror "$@"
build_dir=build
run=()
case "${1:-}" in
  --sanitize) build_dir=build-asan ;;
  --tsan)
    build_dir=build-tsan
    # GCC 12's ThreadSanitizer cannot map its shadow memory under a kernel's full mmap
    # randomisation; without ASLR it can. Only this run, only when allowed.
    if setarch "$(uname -m)" -R true 2>/dev/null; then run=(setarch "$(uname -m)" -R); fi ;;
esac
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}"
# catch_discover_tests splits names at ';': such a test would "pass" without running.
for binary in unit_tests integration_tests; do
  if "${run[@]}" "$build_dir/$binary" --list-test-names-only | grep -n ';'; then
    echo "test.sh: a test name in $binary contains ';' (ctest would split it and run nothing)" >&2
    exit 1
  fi
done
"${run[@]}" ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 300
