#!/usr/bin/env bash
# CI: builds the Dockerfile for real and runs the image's command.
#   1. a minimal bookworm root (scripts/ci/bookworm-base.sh), imported as localhost/bookworm-base;
#   2. `podman build --isolation=chroot` of the Dockerfile with both stages on that base
#      (apt inside the build fetches from Debian's mirror), Docker format (keeps HEALTHCHECK);
#   3. the runtime image's size and its metadata (user, volume, stop signal, health check);
#   4. the image's own command (CMD, as the image's USER, with its ENV and WORKDIR) started with
#      `buildah run --isolation=chroot` (`podman run` needs rlimit permissions CI lacks), PORT
#      set: /health answers, the HEALTHCHECK command passes inside the image, a sandbox message
#      posted to /api/messages reaches /api/sandbox/outbox, and SIGTERM stops it cleanly
#      (exit 0, the supervisor's `stopped` line);
#   5. each session store module in the image (dynoguard-postgres.so, dynoguard-mongodb.so)
#      loads with its libraries: a worker with that store, pointed at a closed port, starts and
#      says the store is unreachable;
#   6. the Procfile's web line, run the same way, serves /health and stops cleanly when SIGTERM
#      reaches every process at once, as on Heroku; and so does the same line from the checkout
#      after scripts/setup.sh (what `heroku local` runs; build/ is reused when present).
# Container storage lives in .ci-cache/containers (gitignored; reused by a later run of the same
# checkout). Installs podman, buildah and mmdebstrap when missing. Prints the time of each step.
# Usage: scripts/ci/image.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
started=$SECONDS
step() { echo "image.sh: [$((SECONDS - started))s] $*"; }
fail() { echo "image.sh: FAIL: $*" >&2; exit 1; }

missing=()
for tool in podman buildah mmdebstrap curl python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  step "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# Our own container storage, apart from the machine's.
cache=$root/.ci-cache/containers
mkdir -p "$cache"
cat >"$cache/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$cache/storage"
runroot = "$cache/run"
EOF
export CONTAINERS_STORAGE_CONF=$cache/storage.conf
export BUILDAH_ISOLATION=chroot

# The platform files: app.json is valid JSON for the container stack, and every variable that
# app.json and render.yaml set is one docs/configuration.md documents (a typo there would be
# silently ignored by the worker).
step "platform files (app.json, render.yaml, heroku.yml)"
python3 - <<'PY' || fail "platform files"
import json, re, sys
documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", open("docs/configuration.md").read()))
app = json.load(open("app.json"))
problems = []
if app.get("stack") != "container":
    problems.append("app.json: stack is not container")
render = open("render.yaml").read()
render_keys = re.findall(r"^\s*-\s*key:\s*([A-Z0-9_]+)\s*$", render, re.M)
for where, keys in (("app.json", app.get("env", {}).keys()), ("render.yaml", render_keys)):
    problems += [f"{where}: {k} is not in docs/configuration.md" for k in keys if k not in documented]
if not re.search(r"^\s*healthCheckPath:\s*/health\s*$", render, re.M):
    problems.append("render.yaml: no healthCheckPath /health")
if not re.search(r"^\s*web:\s*Dockerfile\s*$", open("heroku.yml").read(), re.M):
    problems.append("heroku.yml: build.docker.web is not Dockerfile")
for problem in problems:
    print(problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

step "bookworm base"
base_tar=$(scripts/ci/bookworm-base.sh)
podman import --quiet "$base_tar" localhost/bookworm-base >/dev/null
base_bytes=$(podman image inspect --format '{{.Size}}' localhost/bookworm-base)

step "podman build (both stages; compiles supervisor and worker)"
build_started=$SECONDS
podman build --isolation=chroot --format docker \
  --build-arg BUILD_IMAGE=localhost/bookworm-base \
  --build-arg RUNTIME_IMAGE=localhost/bookworm-base \
  --tag localhost/dynoguard:ci . >"$cache/build.log" 2>&1 || {
  tail -n 60 "$cache/build.log" >&2
  fail "podman build failed (log: $cache/build.log)"
}
build_seconds=$((SECONDS - build_started))
sed -n 's/^runtime packages: /image.sh: the runtime stage installs /p' "$cache/build.log" | tail -n 1
image_bytes=$(podman image inspect --format '{{.Size}}' localhost/dynoguard:ci)
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
step "runtime image: $(mb "$image_bytes") uncompressed, of which the bookworm base" \
  "$(mb "$base_bytes") and dynoguard's layers $(mb $((image_bytes - base_bytes)))" \
  "(built in ${build_seconds}s)"

inspect() { podman image inspect --format "$1" localhost/dynoguard:ci; }
[ "$(inspect '{{.Config.User}}')" = dynoguard ] || fail "the image does not run as dynoguard"
[ "$(inspect '{{.Config.StopSignal}}')" = SIGTERM ] || fail "STOPSIGNAL is not SIGTERM"
inspect '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}' | grep -qw /data ||
  fail "DATA_DIR /data is not a volume"
healthcheck=$(inspect '{{json .Config.Healthcheck.Test}}')
case "$healthcheck" in *'/health'*) ;; *) fail "no HEALTHCHECK on /health: $healthcheck" ;; esac
inspect '{{json .Config.Cmd}}' | grep -q '"supervisor","start"' || fail "CMD is not supervisor start"

# A free port on the loopback.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ctr=""
server_pid=""
# descendants PID: "pid comm" of every process below PID.
descendants() {
  ps -e -o pid=,ppid=,comm= | awk -v root="$1" '
    { pid[NR] = $1; ppid[NR] = $2; comm[NR] = $3 }
    END {
      in_tree[root] = 1
      for (changed = 1; changed;) {
        changed = 0
        for (i = 1; i <= NR; i++)
          if (in_tree[ppid[i]] && !in_tree[pid[i]]) { in_tree[pid[i]] = 1; changed = 1; print pid[i], comm[i] }
      }
    }'
}
cleanup() {
  if [ -n "$server_pid" ]; then
    for pid in $(descendants "$server_pid" | awk '{print $1}'); do kill -KILL "$pid" 2>/dev/null || true; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null && return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# stop_server LOG WHO: SIGTERM to the supervisor alone (WHO=pid1: what `docker stop` sends to
# PID 1) or to the supervisor and the worker at once (WHO=all: what Heroku sends to every process
# of a dyno); then the exit status must be 0 within 30 s (Heroku's grace) and the log must show
# the supervisor's stop line. (Not to `buildah run` itself: it answers SIGTERM by killing its
# command.)
stop_server() {
  local log=$1 who=$2 rc=0 targets
  if [ "$who" = pid1 ]; then
    targets=$(descendants "$server_pid" | awk '$2 == "supervisor" { print $1; exit }')
  else
    targets=$(descendants "$server_pid" | awk '$2 == "supervisor" || $2 == "worker" { print $1 }')
  fi
  [ -n "$targets" ] || fail "no supervisor process under buildah run (log: $log)"
  # shellcheck disable=SC2086 # a list of pids
  kill -TERM $targets
  local deadline=$((SECONDS + 30))
  while kill -0 "$server_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -0 "$server_pid" 2>/dev/null && fail "no exit within 30 s of SIGTERM (log: $log)"
  wait "$server_pid" || rc=$?
  server_pid=""
  ((rc == 0)) || { tail -n 20 "$log" >&2; fail "exit status $rc after SIGTERM, not 0"; }
  grep -Eq 'supervisor: stopped( |$)|"component":"supervisor","event":"stopped"' "$log" ||
    { tail -n 20 "$log" >&2; fail "no 'stopped' line from the supervisor"; }
}

step "buildah run: the image's command (CMD) with PORT set"
ctr=$(buildah from --quiet localhost/dynoguard:ci)
port=$(free_port)
cmd=$(inspect '{{range .Config.Cmd}}{{.}} {{end}}')
log=$cache/run.log
: >"$log"  # emptied before the command starts: a check never reads a previous run's lines
# shellcheck disable=SC2086 # the CMD's words
buildah run --isolation=chroot --env PORT="$port" "$ctr" -- $cmd >"$log" 2>&1 &
server_pid=$!
base=http://127.0.0.1:$port
wait_for 60 curl -fsS "$base/health" ||
  { tail -n 30 "$log" >&2; fail "no /health within 60 s (log: $log)"; }
step "/health answers on port $port"
health_cmd=$(inspect '{{range .Config.Healthcheck.Test}}{{.}}{{"\n"}}{{end}}' | sed -n 2p)
buildah run --isolation=chroot --env PORT="$port" "$ctr" -- sh -c "$health_cmd" ||
  fail "the HEALTHCHECK command fails inside the image: $health_cmd"
step "the HEALTHCHECK command passes inside the image"
buildah run --isolation=chroot "$ctr" -- supervisor status | grep -q '^state:' ||
  fail "supervisor status does not answer inside the image (docker exec … supervisor status)"
step "supervisor status answers inside the image"

# A simulated user writes first (opens the 24-hour window), then the message to them.
post() { curl -fsS -X POST "$base$1" -H 'Content-Type: application/json' -d "$2"; }
post /api/sandbox/inbound '{"from":"15550001111","text":"hello from the image check"}' >/dev/null ||
  fail "POST /api/sandbox/inbound failed"
sent=""
for _ in $(seq 1 50); do
  if answer=$(post /api/messages '{"to":"15550001111","text":"image check: sent through the container"}' 2>/dev/null); then
    sent=$answer
    break
  fi
  sleep 0.2  # the inbound is processed a few milliseconds after its 202
done
[ -n "$sent" ] || fail "POST /api/messages was not accepted"
grep -q '"status":"queued"' <<<"$sent" || fail "POST /api/messages answered $sent"
outbox_has_it() {
  curl -fsS "$base/api/sandbox/outbox" | grep -q 'image check: sent through the container'
}
wait_for 30 outbox_has_it || fail "the message never reached /api/sandbox/outbox"
step "a sandbox message went through: $sent"
stop_server "$log" pid1
step "SIGTERM to the supervisor (docker stop): exit 0 and the supervisor's stop line"

# The session store modules the image carries load with their libraries: a worker with each
# remote store pointed at a closed port starts, says the store is unreachable (the driver ran),
# and stops on SIGTERM.
modules=$(buildah run --isolation=chroot "$ctr" -- ls /app/build | sed -n 's/^dynoguard-\(.*\)\.so$/\1/p')
[ -n "$modules" ] || fail "no session store module in /app/build"
for module in $modules; do
  case "$module" in
    postgres) url=DATABASE_URL=postgres://dynoguard@127.0.0.1:1/dynoguard ;;
    mongodb) url=MONGODB_URI=mongodb://127.0.0.1:1/dynoguard ;;
    *) fail "unknown store module dynoguard-$module.so in the image" ;;
  esac
  port=$(free_port)
  log=$cache/module-$module.log
  : >"$log"
  buildah run --isolation=chroot --env PORT="$port" --env SESSION_STORAGE_TYPE="$module" \
    --env "$url" "$ctr" -- worker >"$log" 2>&1 &
  server_pid=$!
  store_ran() { grep -q "session-store-unreachable store=$module" "$log"; }
  wait_for 30 store_ran || { tail -n 20 "$log" >&2; fail "the $module store module did not run"; }
  worker_pid=$(descendants "$server_pid" | awk '$2 == "worker" { print $1; exit }')
  [ -n "$worker_pid" ] || fail "no worker process under buildah run (log: $log)"
  kill -TERM "$worker_pid"
  deadline=$((SECONDS + 30))
  while kill -0 "$server_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -0 "$server_pid" 2>/dev/null && fail "the worker with the $module store ignored SIGTERM"
  rc=0
  wait "$server_pid" || rc=$?
  server_pid=""
  ((rc == 0)) || { tail -n 20 "$log" >&2; fail "the worker with the $module store exited $rc"; }
  step "dynoguard-$module.so loads in the image (SESSION_STORAGE_TYPE=$module)"
done

step "buildah run: the Procfile's web line"
web=$(sed -n 's/^web: *//p' Procfile)
[ -n "$web" ] || fail "the Procfile has no web line"
port=$(free_port)
base=http://127.0.0.1:$port
log=$cache/procfile.log
: >"$log"
buildah run --isolation=chroot --env PORT="$port" "$ctr" -- sh -c "exec $web" >"$log" 2>&1 &
server_pid=$!
wait_for 60 curl -fsS "$base/health" ||
  { tail -n 30 "$log" >&2; fail "the Procfile's '$web' does not serve /health (log: $log)"; }
stop_server "$log" all
step "the Procfile's '$web' serves /health in the image; SIGTERM to every process (Heroku): exit 0"
# The same Procfile line in the checkout, as `heroku local` (or honcho, foreman) runs it after a
# local scripts/setup.sh build (CI's test command has built build/ already).
step "the Procfile's web line in the checkout"
[ -x build/supervisor ] && [ -x build/worker ] || scripts/setup.sh
port=$(free_port)
base=http://127.0.0.1:$port
log=$cache/procfile-local.log
: >"$log"
local_data=$(mktemp -d)
trap 'cleanup; rm -rf "$local_data"' EXIT
PORT=$port DATA_DIR=$local_data/data sh -c "exec $web" >"$log" 2>&1 &
server_pid=$!
wait_for 60 curl -fsS "$base/health" ||
  { tail -n 30 "$log" >&2; fail "the Procfile's '$web' does not serve /health from the checkout"; }
# sh exec'd the supervisor: it is server_pid itself.
kill -TERM "$server_pid" $(descendants "$server_pid" | awk '$2 == "worker" { print $1 }')
deadline=$((SECONDS + 30))
while kill -0 "$server_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
rc=0
wait "$server_pid" || rc=$?
server_pid=""
((rc == 0)) || { tail -n 20 "$log" >&2; fail "the Procfile's line exited $rc after SIGTERM"; }
step "the Procfile's '$web' serves /health from the checkout; SIGTERM to every process: exit 0"
step "passed in $((SECONDS - started))s"
