#!/usr/bin/env bash
# Lints docs/openapi.yaml with the Redocly CLI pinned in package-lock.json (`npm ci`: the exact
# version, from the npm cache when it is there), rules in redocly.yaml (recommended + stricter).
# Leaves node_modules/ for tests/integration/openapi_test.cc, which bundles the spec with the same
# CLI and runs conformance.js against a real worker. Installs nodejs and npm (apt-get) when missing.
# Redocly CLI 2 needs Node.js >= 20.19 (Debian 12's own nodejs is 18: use NodeSource's 20 or 22).
# Usage: tools/openapi/lint.sh        (from anywhere; CI calls it from .ci/run)
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "lint.sh: installing nodejs and npm"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "lint.sh: Redocly CLI needs Node.js >= 20.19; this is $(node --version)" >&2
  exit 1
fi
# No telemetry, no update check, no banners: the lint is offline once the package is cached.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true REDOCLY_SUPPRESS_NOTIFICATIONS=true
npm ci --prefer-offline --no-audit --no-fund --loglevel=error
node node_modules/@redocly/cli/bin/cli.js lint --config redocly.yaml --format=stylish ../../docs/openapi.yaml
