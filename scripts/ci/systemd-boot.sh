#!/usr/bin/env bash
# CI: the installed package under a real systemd. Boots ROOT (a bookworm root where the .deb is
# installed; systemd and curl are added here) with `systemd-nspawn --boot` on a private network,
# and checks, through the container's own systemctl/journalctl/curl:
#   - dynoguard.service (the hardened unit as shipped) starts as Type=notify: active, STATUS=
#     from the supervisor, under a dynamic user, with /var/lib/dynoguard a 0700 StateDirectory;
#   - a sandbox message is accepted with the API_KEY from /etc/dynoguard/dynoguard.env (0600)
#     and sent; `systemctl reload` is a graceful worker restart, `systemctl restart` keeps the
#     queue (the message is still known after it); the online security score;
#   - dynoguard.socket: the service started by the first connection, serving the passed socket
#     (`listen … from=systemd`), and kept across a worker restart;
#   - `systemctl stop` is a graceful stop (`worker: stopped`, `supervisor: stopped`).
#   - the maintainer scripts under systemd: a reinstall (as an upgrade) restarts the running
#     service, `apt-get remove` stops it and keeps /var/lib/dynoguard.
# Usage: scripts/ci/systemd-boot.sh ROOT DEB   (root; called by scripts/ci/package.sh)
set -euo pipefail
root="$1"
deb="$2"
started=$SECONDS
step() { echo "systemd-boot.sh: [$((SECONDS - started))s] $*"; }
fail() {
  echo "systemd-boot.sh: FAILED: $*" >&2
  if [ -n "${init:-}" ]; then
    in_box journalctl --no-pager -n 60 -u dynoguard.service -u dynoguard.socket >&2 || true
  fi
  exit 1
}
command -v systemd-nspawn >/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    systemd-container >/dev/null
}

step "adding systemd and curl to the root"
mount -t proc proc "$root/proc"
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -o APT::Sandbox::User=root install -y -qq \
  --no-install-recommends systemd systemd-sysv curl >/dev/null 2>&1 ||
  { umount "$root/proc"; fail "apt-get install systemd curl in the root"; }
umount "$root/proc"
cp "$deb" "$root/root/dynoguard.deb"
key="ci-key-$RANDOM$RANDOM"
install -d -m 0755 "$root/etc/dynoguard"
printf 'API_KEY=%s\nLOG_FORMAT=text\n' "$key" >"$root/etc/dynoguard/dynoguard.env"
chmod 0600 "$root/etc/dynoguard/dynoguard.env"
chroot "$root" systemctl enable dynoguard.service >/dev/null 2>&1
# A short watchdog, to see the supervisor's pings within seconds (the unit has 30 s).
install -d "$root/etc/systemd/system/dynoguard.service.d"
printf '[Service]\nWatchdogSec=2\n' >"$root/etc/systemd/system/dynoguard.service.d/ci.conf"
# No console getty (nobody logs in), no apt timers.
chroot "$root" systemctl mask console-getty.service apt-daily.timer apt-daily-upgrade.timer \
  >/dev/null 2>&1

step "booting the root (systemd-nspawn --boot --private-network)"
log=$(mktemp /tmp/dynoguard-boot.XXXXXX)
systemd-nspawn --quiet --register=no --keep-unit --private-network -D "$root" --boot \
  >"$log" 2>&1 </dev/null &
nspawn=$!
stop_box() {
  if kill -0 "$nspawn" 2>/dev/null; then
    kill -TERM "$nspawn" 2>/dev/null || true  # nspawn shuts the container down in order
    for _ in $(seq 1 100); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn" 2>/dev/null || true
  fi
  wait "$nspawn" 2>/dev/null || true
  rm -f "$log"
}
trap stop_box EXIT
init=""
for _ in $(seq 1 100); do
  init=$(pgrep -P "$nspawn" -x systemd || true)
  [ -n "$init" ] && break
  kill -0 "$nspawn" 2>/dev/null || { cat "$log" >&2; fail "systemd-nspawn exited"; }
  sleep 0.1
done
[ -n "$init" ] || { cat "$log" >&2; fail "no systemd in the container"; }
in_box() { nsenter --target "$init" --all /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# Wait for the boot (degraded is fine: the container lacks some hardware units).
for _ in $(seq 1 200); do
  state=$(in_box systemctl is-system-running 2>/dev/null || true)
  case "$state" in running | degraded) break ;; esac
  sleep 0.1
done
step "system $state"

http() { in_box curl -sS --max-time 10 -H "Authorization: Bearer $key" "$@"; }
wait_active() {
  for _ in $(seq 1 150); do
    [ "$(in_box systemctl is-active "$1" 2>/dev/null)" = active ] && return 0
    sleep 0.1
  done
  return 1
}
journal_has() {  # journal_has PATTERN [COUNT]: waits until PATTERN appears COUNT times (1)
  for _ in $(seq 1 150); do
    n=$(in_box journalctl --no-pager -o cat -u dynoguard.service | grep -c -e "$1" || true)
    [ "$n" -ge "${2:-1}" ] && return 0
    sleep 0.1
  done
  return 1
}

wait_active dynoguard.service || fail "dynoguard.service is not active"
in_box systemctl status --no-pager --lines=0 dynoguard.service | sed 's/^/  /'
status_text=$(in_box systemctl show -p StatusText --value dynoguard.service)
[ -n "$status_text" ] || fail "no STATUS= from the supervisor"
main_pid=$(in_box systemctl show -p MainPID --value dynoguard.service)
uid=$(in_box stat -c %u "/proc/$main_pid")
[ "$uid" -ge 61184 ] && [ "$uid" -le 65519 ] || fail "the supervisor runs as uid $uid, not a dynamic user"
mode=$(in_box stat -L -c %a /var/lib/dynoguard)
[ "$mode" = 700 ] || fail "/var/lib/dynoguard is $mode, not 700"
watchdog_ping() { in_box systemctl show -p WatchdogTimestampMonotonic --value dynoguard.service; }
first_ping=$(watchdog_ping)
step "active: STATUS=\"$status_text\", uid $uid (dynamic), /var/lib/dynoguard 0700"

step "a sandbox message with the API key"
[ "$(in_box curl -s -o /dev/null -w '%{http_code}' localhost:8080/api/queue)" = 401 ] ||
  fail "/api/queue without the key is not 401"
inbound=$(http -X POST localhost:8080/api/sandbox/inbound -H 'Content-Type: application/json' \
  -d '{"from":"15551234567","text":"hi"}')
echo "$inbound" | grep -q '"id"' || fail "sandbox inbound: $inbound"
sent=""
for _ in $(seq 1 50); do
  answer=$(http -X POST localhost:8080/api/messages -H 'Content-Type: application/json' \
    -d '{"to":"15551234567","text":"hello from systemd"}')
  id=$(echo "$answer" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
  [ -n "$id" ] && break
  sleep 0.1  # the inbound opens the window a few ms after its 202
done
[ -n "$id" ] || fail "POST /api/messages: $answer"
for _ in $(seq 1 100); do
  http "localhost:8080/api/messages/$id" | grep -q -e '"status":"sent"' -e '"status":"delivered"' \
    -e '"status":"read"' && { sent=1; break; }
  sleep 0.1
done
[ -n "$sent" ] || fail "message $id not sent: $(http "localhost:8080/api/messages/$id")"
step "message $id sent"
for _ in $(seq 1 30); do [ "$(watchdog_ping)" != "$first_ping" ] && break; sleep 0.1; done
[ "$(watchdog_ping)" != "$first_ping" ] || fail "no WATCHDOG=1 from the supervisor within 3 s"
[ "$(in_box systemctl show -p NRestarts --value dynoguard.service)" = 0 ] ||
  fail "systemd restarted the service"
step "watchdog pinged (WatchdogSec=2 for the test), no restart by systemd"
in_box env DATA_DIR=/var/lib/dynoguard dynoguard status | grep -q '^state: *running' ||
  fail "root's \`dynoguard status\` on the service's control socket"
step "root's \`DATA_DIR=/var/lib/dynoguard dynoguard status\` answers"

step "systemctl reload: a graceful worker restart"
in_box systemctl reload dynoguard.service
journal_has 'restart reason=control' || fail "no restart reason=control after reload"
journal_has 'supervisor: ready pid=' 2 || fail "no second ready after reload"
[ "$(in_box systemctl show -p MainPID --value dynoguard.service)" = "$main_pid" ] ||
  fail "reload replaced the supervisor"

step "systemctl restart: the queue survives"
in_box systemctl restart dynoguard.service
wait_active dynoguard.service || fail "not active after restart"
http "localhost:8080/api/messages/$id" | grep -q "\"$id\"" || fail "message $id lost by a restart"

# The kernel enforces MemoryMax only where the service has a memory cgroup: cgroup v2
# (memory.max), or v1 with the memory controller delegated to the container
# (memory.limit_in_bytes). On a host that does neither (this check says so) the step is skipped.
service_memory_limit() {
  local pid cgroup path
  pid=$(in_box systemctl show -p MainPID --value dynoguard.service)
  cgroup=$(in_box cat "/proc/$pid/cgroup")
  path=$(echo "$cgroup" | sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p')
  if [ -n "$path" ] && [ "$path" != / ]; then
    in_box cat "/sys/fs/cgroup/memory$path/memory.limit_in_bytes" 2>/dev/null && return
  fi
  path=$(echo "$cgroup" | sed -n 's/^0::\(.*\)$/\1/p')
  [ -n "$path" ] && in_box cat "/sys/fs/cgroup$path/memory.max" 2>/dev/null && return
  echo none
}
limit=$(service_memory_limit)
if [ "$limit" != 536870912 ]; then
  step "MemoryMax not enforced in this container (the service's memory cgroup limit: $limit): OOM step skipped"
else
  step "MemoryMax is the last line: a worker past 512M is OOM-killed, the supervisor restarts it"
  # For this step only: a budget above MemoryMax (the supervisor does not act) and the ballast.
  # (/run is the container's own tmpfs: written from inside.)
  in_box sh -c 'mkdir -p /run/systemd/system/dynoguard.service.d && printf "%s\n" "[Service]" \
    "Environment=MEMORY_LIMIT_MB=4096 DEBUG_ENDPOINTS=true" >/run/systemd/system/dynoguard.service.d/oom.conf'
  in_box systemctl daemon-reload
  in_box systemctl restart dynoguard.service
  wait_active dynoguard.service || fail "not active with the OOM drop-in"
  http -X POST 'localhost:8080/debug/ballast?mb=700&pinned=1' >/dev/null 2>&1 || true
  journal_has 'status=killed signal=SIGKILL' || fail "the worker was not killed past MemoryMax"
  journal_has 'supervisor: ready pid=' 4 || fail "no new worker after the OOM kill"
  [ "$(in_box systemctl is-active dynoguard.service)" = active ] ||
    fail "the service did not survive the worker's OOM kill"
  in_box journalctl --no-pager -o cat -u dynoguard.service | grep -e 'status=killed' | sed 's/^/  /'
  in_box rm -f /run/systemd/system/dynoguard.service.d/oom.conf
  in_box systemctl daemon-reload
  in_box systemctl restart dynoguard.service
  wait_active dynoguard.service || fail "not active after the OOM step"
fi

step "systemd-analyze security (online, in the container)"
in_box systemd-analyze security --no-pager dynoguard.service | tail -1

step "dynoguard.socket: socket activation"
in_box systemctl stop dynoguard.service
in_box systemctl start dynoguard.socket
[ "$(in_box systemctl is-active dynoguard.service)" != active ] ||
  fail "the service runs before any connection"
health=$(in_box curl -sS --max-time 20 localhost:8080/health) || fail "no answer through the socket"
echo "$health" | grep -q '"status"' || fail "/health through the socket: $health"
journal_has 'listen address=.*from=systemd' || fail "the supervisor did not take the passed socket"
in_box journalctl --no-pager -o cat -u dynoguard.service | grep 'from=systemd' | sed 's/^/  /'
in_box systemctl reload dynoguard.service
journal_has 'restart reason=control' 2 || fail "no worker restart under socket activation"
in_box curl -sS --max-time 20 -o /dev/null localhost:8080/health || fail "socket lost by a restart"
step "started by the first connection, served the passed socket across a worker restart"

step "systemctl stop: graceful"
in_box systemctl stop dynoguard.socket dynoguard.service
in_box journalctl --no-pager -o cat -u dynoguard.service | tail -n 4 | sed 's/^/  /'
in_box journalctl --no-pager -o cat -u dynoguard.service | tail -n 8 | grep -q 'supervisor: stopped' ||
  fail "no 'supervisor: stopped' at the stop"
[ "$(in_box systemctl show -p Result --value dynoguard.service)" = success ] ||
  fail "the stop did not end in success"
# The sandbox refused nothing the programs use (SystemCallErrorNumber=EPERM would show here).
refused=$(in_box journalctl --no-pager -o cat -u dynoguard.service |
  grep -e 'subreaper-failed' -e 'pdeathsig-failed' -e 'Operation not permitted' \
    -e 'Permission denied' -e ' error ' || true)
[ -z "$refused" ] || fail "refused by the sandbox: $refused"

step "the maintainer scripts: an upgrade restarts the service, a removal stops it"
in_box systemctl start dynoguard.service
wait_active dynoguard.service || fail "not active before the upgrade"
before=$(in_box systemctl show -p MainPID --value dynoguard.service)
in_box env DEBIAN_FRONTEND=noninteractive dpkg -i /root/dynoguard.deb >/dev/null ||
  fail "dpkg -i over the installed package"
wait_active dynoguard.service || fail "not active after the upgrade"
after=$(in_box systemctl show -p MainPID --value dynoguard.service)
[ "$after" != "$before" ] || fail "the upgrade did not restart the service"
in_box env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq dynoguard >/dev/null 2>&1 ||
  fail "apt-get remove dynoguard"
[ "$(in_box systemctl is-active dynoguard.service)" != active ] || fail "still active after removal"
in_box test ! -e /usr/lib/dynoguard/supervisor || fail "the programs are still there after removal"
in_box test -f /var/lib/private/dynoguard/queue.db || fail "the removal lost /var/lib/dynoguard"
step "upgrade: supervisor pid $before -> $after; removed: stopped, /var/lib/dynoguard kept"
step "done"
