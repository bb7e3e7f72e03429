#!/usr/bin/env bash
# Installs the Debian packages dynoguard needs (only the missing ones; apt-get, with sudo when
# not root) and builds the two programs, supervisor and worker.
# Usage: scripts/setup.sh [--tests] [--werror] [--sanitize | --tsan] [--deps-only]
#   (default)    → build/        (RelWithDebInfo): supervisor, worker
#   --tests      → also the test suite (what scripts/test.sh uses)
#   --werror     → warnings are errors (the test command and CI)
#   --sanitize   → build-asan/   (AddressSanitizer + UndefinedBehaviorSanitizer)
#   --tsan       → build-tsan/   (ThreadSanitizer)
#   --deps-only  → install the packages and stop (the Dockerfile's cached layer)
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
build_type=RelWithDebInfo
cmake_args=()
targets=(supervisor worker)
deps_only=""
for arg in "$@"; do
  case "$arg" in
    --tests) targets=(all) ;;
    --werror) cmake_args+=(-DDYNOGUARD_WERROR=ON) ;;
    --sanitize) build_dir=build-asan; build_type=Debug; cmake_args+=(-DDYNOGUARD_SANITIZE=ON) ;;
    --tsan) build_dir=build-tsan; build_type=RelWithDebInfo; cmake_args+=(-DDYNOGUARD_TSAN=ON) ;;
    --deps-only) deps_only=1 ;;
    *) echo "setup.sh: unknown option '$arg' (allowed: --tests, --werror, --sanitize, --tsan, --deps-only)" >&2
       exit 2 ;;
  esac
done

packages=(build-essential cmake pkg-config libuv1-dev libcpp-httplib-dev rapidjson-dev libfmt-dev
          libcurl4-openssl-dev libssl-dev libsqlite3-dev zlib1g-dev libpq-dev libmongoc-dev catch2
          curl)
[ "${targets[0]}" = all ] && packages+=(clang-format nodejs postgresql chromium nghttp2-server)
command -v ccache >/dev/null && cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -z "$deps_only" ] || exit 0

if [ "${targets[0]}" = all ]; then
  echo "setup.sh: building the programs and the test suite into $build_dir/ (about 15 minutes on 2 cores the first time)"
else
  echo "setup.sh: building supervisor and worker into $build_dir/ (about 2 minutes on 2 cores)"
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}"
echo "setup.sh: built into $build_dir/ (supervisor, worker)"
