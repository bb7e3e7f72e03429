#!/usr/bin/env bash
# Makes (once, then reuses) a minimal Debian bookworm root as a tarball, from Debian's mirror:
# the base image the Dockerfile is built on in CI and the root the .deb is installed into.
# Usage: scripts/ci/bookworm-base.sh [OUT.tar]   (default: .ci-cache/bookworm-base.tar)
# Prints the tarball's path. Needs mmdebstrap (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-.ci-cache/bookworm-base.tar}"
if [ ! -s "$out" ]; then
  if ! command -v mmdebstrap >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      mmdebstrap >/dev/null
  fi
  mkdir -p "$(dirname "$out")"
  echo "bookworm-base.sh: making a minimal bookworm root in $out (about 30 s)" >&2
  mmdebstrap --quiet --variant=minbase --format=tar bookworm "$out.partial" http://deb.debian.org/debian
  mv "$out.partial" "$out"
fi
echo "$out"
