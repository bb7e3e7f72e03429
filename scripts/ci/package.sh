#!/usr/bin/env bash
# CI: the install and the Debian package, for real.
#   1. build supervisor + worker (reuses build/: the test command built it already)
#   2. `cmake --install` into a temp prefix and with DESTDIR, and check the tree
#   3. `systemd-analyze verify` the installed units; print `systemd-analyze security --offline`
#      and fail above an exposure of 3.0
#   4. `cpack -G DEB` → build/dynoguard_<version>_<arch>.deb
#   5. install it with apt-get into a fresh bookworm root (scripts/ci/bookworm-base.sh, in a
#      chroot, Debian's mirror for the dependencies) and run `supervisor --version`,
#      `worker --version` and a supervised start answering /health there
#   6. boot that root with systemd (systemd-nspawn, scripts/ci/systemd-boot.sh): the shipped
#      units under a real systemd
# Usage: scripts/ci/package.sh   (root, or sudo; installs dpkg-dev, mmdebstrap, systemd when
# missing). About 1 minute once build/ exists.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
step() { echo "package.sh: [$((SECONDS - started))s] $*"; }
fail() { echo "package.sh: FAILED: $*" >&2; exit 1; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v cpack >/dev/null || need+=(cmake)
if ((${#need[@]})); then
  step "installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/dynoguard-package.XXXXXX)
root="$work/root"
cleanup() {
  # The chroot's /proc is ours to unmount; nothing else is mounted.
  if mountpoint -q "$root/proc" 2>/dev/null; then $sudo umount "$root/proc" || true; fi
  $sudo rm -rf "$work"
}
trap cleanup EXIT

# 1. The two programs.
if [ -f build/CMakeCache.txt ]; then
  step "building supervisor and worker in build/ (reused)"
  cmake -S . -B build >/dev/null
  cmake --build build -j2 --target supervisor worker >/dev/null
else
  step "no build/: scripts/setup.sh"
  scripts/setup.sh >/dev/null
fi

# 2. cmake --install, with --prefix and with DESTDIR.
prefix="$work/prefix"
step "cmake --install build --prefix $prefix"
cmake --install build --prefix "$prefix" >/dev/null
expected=(bin/dynoguard lib/dynoguard/supervisor lib/dynoguard/worker
          lib/dynoguard/dynoguard-postgres.so lib/dynoguard/dynoguard-mongodb.so
          lib/systemd/system/dynoguard.service lib/systemd/system/dynoguard.socket
          share/doc/dynoguard/LICENSE share/doc/dynoguard/README.md
          share/doc/dynoguard/deployment.md share/doc/dynoguard/operations.md
          share/doc/dynoguard/configuration.md share/doc/dynoguard/dynoguard.env)
for file in "${expected[@]}"; do
  [ -e "$prefix/$file" ] || fail "cmake --install: $file missing under the prefix"
done
[ -x "$prefix/lib/dynoguard/supervisor" ] && [ -x "$prefix/lib/dynoguard/worker" ] ||
  fail "cmake --install: the programs are not executable"
[ "$(readlink "$prefix/bin/dynoguard")" = ../lib/dynoguard/supervisor ] ||
  fail "cmake --install: bin/dynoguard is not a relative link to the supervisor"
"$prefix/bin/dynoguard" --version | grep -q '^supervisor (dynoguard) ' ||
  fail "bin/dynoguard --version"
grep -qx "ExecStart=$prefix/lib/dynoguard/supervisor start" \
  "$prefix/lib/systemd/system/dynoguard.service" ||
  fail "the installed unit's ExecStart does not name the prefix"
unexpected=$(cd "$prefix" && find . -type f -o -type l | sort | grep -v -e '^\./share/doc/dynoguard/' \
  -e '^\./lib/dynoguard/\(supervisor\|worker\|dynoguard-postgres\.so\|dynoguard-mongodb\.so\)$' -e '^\./lib/systemd/system/dynoguard\.' \
  -e '^\./bin/dynoguard$' || true)
[ -z "$unexpected" ] || fail "cmake --install put unexpected files: $unexpected"
echo "package.sh: installed tree:"
(cd "$prefix" && find . -type f -o -type l | sort | sed 's/^/  /')

destdir="$work/destdir"
step "DESTDIR=$destdir cmake --install build --prefix /usr"
DESTDIR="$destdir" cmake --install build --prefix /usr >/dev/null
[ -x "$destdir/usr/lib/dynoguard/worker" ] || fail "DESTDIR not honoured"
grep -qx "ExecStart=/usr/lib/dynoguard/supervisor start" \
  "$destdir/usr/lib/systemd/system/dynoguard.service" || fail "DESTDIR: the unit names DESTDIR"

# 3. The units, as installed (their ExecStart= exists under the temp prefix).
units="$prefix/lib/systemd/system"
step "systemd-analyze verify"
systemd-analyze verify "$units/dynoguard.service" "$units/dynoguard.socket"
step "systemd-analyze security --offline=true dynoguard.service"
security=$(systemd-analyze security --offline=true --no-pager "$units/dynoguard.service" 2>&1) ||
  true
echo "$security" | grep -e '✗' -e 'Overall' || true
exposure=$(echo "$security" | sed -n 's/.*Overall exposure level for dynoguard.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "no exposure level in: $security"
awk -v e="$exposure" 'BEGIN { exit !(e <= 3.0) }' || fail "exposure $exposure is above 3.0"
echo "package.sh: exposure $exposure (at most 3.0)"

# 4. The Debian package.
step "cpack -G DEB"
rm -f build/dynoguard_*.deb
(cd build && cpack -G DEB >/dev/null)
debs=(build/dynoguard_*_"$(dpkg --print-architecture)".deb)
[ -f "${debs[0]}" ] || fail "cpack made no dynoguard_<version>_<arch>.deb"
deb="${debs[0]}"
echo "package.sh: $deb ($(du -k "$deb" | cut -f1) kB)"
dpkg-deb --field "$deb" Package Version Architecture Depends | sed 's/^/  /'
dpkg-deb --field "$deb" Depends | grep -q libuv1 || fail "Depends: not computed (no libuv1)"

# 5. apt install ./dynoguard_….deb in a fresh bookworm root.
base=$(scripts/ci/bookworm-base.sh)
step "unpacking $base into a fresh root"
mkdir -p "$root"
if [ -d "$base" ]; then
  $sudo cp -a "$base/." "$root/"
else
  $sudo tar -xf "$base" -C "$root"
fi
$sudo cp /etc/resolv.conf "$root/etc/resolv.conf"
$sudo cp "$deb" "$root/tmp/"
$sudo mount -t proc proc "$root/proc" || fail "cannot mount /proc in the chroot"
in_root() { $sudo chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
step "apt-get install ./$(basename "$deb") in the chroot"
# APT::Sandbox::User=root: the download sandbox needs setgroups, refused in some containers.
in_root apt-get -o APT::Sandbox::User=root update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get -o APT::Sandbox::User=root install -y -qq \
  --no-install-recommends "/tmp/$(basename "$deb")" >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log" >&2; fail "apt-get install of the .deb"; }
grep -E '^(Setting up|dynoguard:)' "$work/apt.log" | sed 's/^/  /'
in_root /usr/lib/dynoguard/supervisor --version
in_root /usr/lib/dynoguard/worker --version
in_root dynoguard --version >/dev/null || fail "dynoguard (the symlink) --version in the chroot"

step "a supervised start in the chroot"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A simple command in the background: $! is chroot's pid, which execs env, which execs the
# supervisor, so the SIGTERM below reaches the supervisor itself.
$sudo chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOST=127.0.0.1 PORT="$port" \
  DATA_DIR=/tmp/data MEMORY_LIMIT_MB=256 dynoguard start >"$work/start.log" 2>&1 &
pid=$!
ok=""
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"status"'; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$ok" ]; then
  in_root env DATA_DIR=/tmp/data dynoguard status | sed 's/^/  /'
fi
kill -TERM "$pid" 2>/dev/null || true
wait "$pid" || true
[ -n "$ok" ] || { cat "$work/start.log" >&2; fail "the installed supervisor did not serve /health"; }
grep -q 'worker: stopped' "$work/start.log" || { cat "$work/start.log" >&2; fail "no graceful stop"; }
$sudo umount "$root/proc"

# 6. The same root booted with systemd: the unit as shipped, for real.
$sudo scripts/ci/systemd-boot.sh "$root" "$deb"
step "done: the .deb installs in a fresh bookworm root, serves, and runs under systemd"
