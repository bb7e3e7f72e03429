#!/usr/bin/env bash
# Installs the Debian packages dynoguard needs (only the missing ones; apt-get, with sudo when
# not root) and builds it. Usage: scripts/setup.sh [--sanitize]
#   default      → build/        (RelWithDebInfo)
#   --sanitize   → build-asan/   (AddressSanitizer + UndefinedBehaviorSanitizer)
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
for arg in "$@"; do
  case "$arg" in
    --sanitize) build_dir=build-asan; cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DDYNOGUARD_SANITIZE=ON) ;;
    *) echo "setup.sh: unknown option '$arg' (allowed: --sanitize)" >&2; exit 2 ;;
  esac
done

packages=(build-essential cmake pkg-config libuv1-dev libcpp-httplib-dev rapidjson-dev libfmt-dev
          libcurl4-openssl-dev libssl-dev libsqlite3-dev catch2 curl nodejs)
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

cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
echo "setup.sh: built into $build_dir/ (supervisor, worker)"
